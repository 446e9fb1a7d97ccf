#!/usr/bin/perl
# Active health checks by the checker process (workers = 4): the request an
# HTTP check sends; a server whose /health turns 500 is logged down exactly
# once for the daemon (not once per worker) after `fall` failed checks, and
# up exactly once after `rise` good ones; each failure reason (refused,
# timed out, bad status, invalid response, closed) in its down line; a tcp
# check goes down when the listener goes away and up when it is back; the
# checker killed with SIGKILL is logged, respawned, and goes on checking
# with the state it left in the segment; USR1 reopens its log.
#
# Which workers send traffic where is not tested here.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 60;

# ==========================================================================
# A health endpoint whose answer a test switches at any time: Health->new
# forks a one-process server on 127.0.0.1 (a given port or an ephemeral
# one) that reads the mode from a file for each connection it accepts and
# appends one line per connection to its log: "CONN" then, once a request
# head is read, the head with CRLF written as "|".  Modes:
#   200, 500  that status, Connection: close, then close
#   garbage   bytes that are not HTTP
#   close     read the request, close without a word
#   silent    accept, never read or answer (the check times out)
#   tcp       accept and close at once (for tcp checks)
{
package Health;

use strict;
use warnings;

use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(time);

sub new {
    my ($class, %a) = @_;
    my $dir = Gatehouse::tmpdir();
    my $self = bless { dir => $dir, name => $a{name},
                       mode_file => "$dir/mode", log => "$dir/log" }, $class;
    Gatehouse::write_file($self->{log}, '');
    $self->mode($a{mode} // '200');
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1',
                                 LocalPort => $a{port} // 0, Listen => 64,
                                 ReuseAddr => 1, Proto => 'tcp')
        or die "health listen: $@";
    $self->{port} = $ls->sockport;
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        eval { $self->_serve($ls, $parent) };
        POSIX::_exit(0);
    }
    close $ls;
    $self->{pid} = $pid;
    push @Gatehouse::CLEANUP, sub { $self->stop };
    return $self;
}

sub port { $_[0]{port} }
# Atomically: the server must never read a half-written mode.
sub mode {
    my ($self, $m) = @_;
    Gatehouse::write_file("$self->{mode_file}.new", $m);
    rename "$self->{mode_file}.new", $self->{mode_file} or die "rename: $!";
}
sub lines { grep { length } split /\n/, Gatehouse::read_file($_[0]{log}) }
sub requests { grep { /^GET / } $_[0]->lines }
sub conns { scalar grep { $_ eq 'CONN' } $_[0]->lines }

# Kill it: its listener goes with it (connects are refused from then on).
sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = undef;
}

sub _log {
    my ($self, $line) = @_;
    open my $fh, '>>', $self->{log} or return;
    print $fh "$line\n";
    close $fh;
}

sub _serve {
    my ($self, $ls, $parent) = @_;
    alarm 0;
    $SIG{$_} = 'DEFAULT' for qw(ALRM TERM INT);
    $SIG{PIPE} = 'IGNORE';
    @Gatehouse::LIVE = ();
    @Gatehouse::CLEANUP = ();
    my $sel = IO::Select->new($ls);
    my @held;
    while (1) {
        POSIX::_exit(0) if getppid() != $parent;
        next unless $sel->can_read(0.5);
        my $c = $ls->accept or next;
        $self->_log('CONN');
        my $mode = Gatehouse::read_file($self->{mode_file});
        if ($mode eq 'tcp') {
            close $c;
            next;
        }
        if ($mode eq 'silent') {
            push @held, $c;
            shift @held while @held > 20;
            next;
        }
        my $head = '';
        my $cs = IO::Select->new($c);
        my $deadline = time + 1;
        while ($head !~ /\r\n\r\n/ && time < $deadline) {
            last unless $cs->can_read($deadline - time);
            my $n = sysread($c, my $d, 4096);
            last unless $n;
            $head .= $d;
        }
        (my $flat = $head) =~ s/\r\n/|/g;
        $self->_log($flat);
        if ($mode eq '200' || $mode eq '500') {
            my $r = $mode eq '200' ? '200 OK' : '500 Internal Server Error';
            my $b = $mode eq '200' ? 'ok' : 'broken';
            syswrite($c, "HTTP/1.1 $r\r\nContent-Length: " . length($b)
                         . "\r\nConnection: close\r\n\r\n$b");
        } elsif ($mode eq 'garbage') {
            syswrite($c, "\x00\x01garbage\r\n\r\n");
        }
        close $c;
    }
}
}
# ==========================================================================

my $app   = Health->new(name => 'app');             # switched 200/500
my $bad_g = Health->new(name => 'garbage', mode => 'garbage');
my $bad_s = Health->new(name => 'silent',  mode => 'silent');
my $bad_c = Health->new(name => 'close',   mode => 'close');
my $tcp   = Health->new(name => 'tcp',     mode => 'tcp');

my $gh = Gatehouse->new(
    vars => { APP => $app->port, GARBAGE => $bad_g->port,
              SILENT => $bad_s->port, CLOSE => $bad_c->port,
              TCP => $tcp->port },
    conf => Gatehouse::preamble(workers => 4) . <<'EOF');
upstreams = {
  app = { servers = ( { address = "127.0.0.1:%%APP%%"; } );
          health = { path = "/health"; interval = "300ms"; timeout = "300ms";
                     rise = 2; fall = 3; status = "200-399"; }; };
  bad = { servers = ( { address = "127.0.0.1:%%PORT_refused%%"; },
                      { address = "127.0.0.1:%%SILENT%%"; },
                      { address = "127.0.0.1:%%GARBAGE%%"; },
                      { address = "127.0.0.1:%%CLOSE%%"; } );
          health = { path = "/h"; interval = "300ms"; timeout = "300ms";
                     rise = 1; fall = 2; }; };
  tcpup = { servers = ( { address = "127.0.0.1:%%TCP%%"; } );
            health = { type = "tcp"; interval = "200ms"; timeout = "150ms";
                       rise = 2; fall = 2; }; };
  plain = { servers = ( { address = "127.0.0.1:%%APP%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "plain"; } ); } );
EOF

my $APP = "127.0.0.1:" . $app->port;
my $TCP = "127.0.0.1:" . $tcp->port;

# Error log lines matching every regex in RES, from byte MARK on.
sub log_lines {
    my ($mark, @res) = @_;
    my @l = split /\n/, $gh->log_since($mark // 0);
    for my $re (@res) {
        @l = grep { /$re/ } @l;
    }
    return @l;
}

# Wait until at least N lines match.
sub wait_lines {
    my ($n, $mark, @res) = @_;
    my $secs = 5;
    return wait_for(sub { log_lines($mark, @res) >= $n }, $secs);
}

sub down_re { my ($up, $addr) = @_; qr/upstream \Q$up\E server \Q$addr\E is down \(health check: / }
sub up_re   { my ($up, $addr) = @_; qr/upstream \Q$up\E server \Q$addr\E is up \(health check\)$/ }
sub fail_re { my ($up, $addr) = @_; qr/health check of upstream \Q$up\E server \Q$addr\E failed: / }

# The pid of the checker the master started last.
sub checker_pid {
    my @s = log_lines(0, qr/start checker process (\d+)/);
    return @s && $s[-1] =~ /start checker process (\d+)/ ? $1 + 0 : undef;
}

# A line's "pid#slot" pid.
sub pid_of { $_[0] =~ /\] (\d+)#\d+: / ? $1 + 0 : -1 }

# --- the checker process ------------------------------------------------------
my $ck;
ok(wait_for(sub { $ck = checker_pid(); $ck && $gh->children == 5 }, 5),
   'master started 4 workers and a checker')
    or diag($gh->error_log);
ok((grep { $_ == $ck } $gh->children), 'the checker is a child of the master');

# --- what an HTTP check sends ------------------------------------------------------
ok(wait_for(sub { $app->requests >= 2 }, 5), 'app: checks arrive');
{
    my ($req) = $app->requests;
    is($req, "GET /health HTTP/1.1|Host: $APP|Connection: close|"
             . "User-Agent: gatehouse-health||",
       'check request: GET path, Host = server address, close, UA');
}
is(log_lines(0, qr/upstream (app|tcpup) server .* is (down|up) \(health check/), 0,
   'healthy servers: no state change logged')
    or diag($gh->error_log);

# --- every failure reason, one down line each ------------------------------------------
{
    my $refused = "127.0.0.1:" . $gh->port('refused');
    my %want = (
        $refused => qr/\(health check: connect\(\) failed \(111: Connection refused\)\)$/,
        "127.0.0.1:" . $bad_s->port => qr/\(health check: timed out\)$/,
        "127.0.0.1:" . $bad_g->port => qr/\(health check: invalid response\)$/,
        "127.0.0.1:" . $bad_c->port => qr/\(health check: connection closed\)$/,
    );
    for my $addr (sort keys %want) {
        ok(wait_lines(1, 0, down_re('bad', $addr)), "bad $addr: down")
            or diag($gh->error_log);
    }
    # Two more failed checks of each after its down line: any second
    # down line would be there by now.
    for my $addr (sort keys %want) {
        my @d = log_lines(0, down_re('bad', $addr));
        my $after = index($gh->error_log, $d[0]) + length $d[0];
        ok(wait_lines(2, $after, fail_re('bad', $addr)),
           "bad $addr: checks go on while it is down");
        @d = log_lines(0, down_re('bad', $addr));
        is(scalar @d, 1, "bad $addr: exactly one down line");
        like($d[0], $want{$addr}, "bad $addr: reason in the down line");
        like($d[0], qr/\[warn\]/, "bad $addr: down at [warn]");
        is(pid_of($d[0]), $ck, "bad $addr: logged by the checker");
        my @f = log_lines(0, fail_re('bad', $addr));
        like($f[0], qr/\[info\]/, "bad $addr: failed checks at [info]");
    }
}

# --- app: 500 -> down once, 200 -> up once ------------------------------------------
{
    my $mark = $gh->log_mark;
    $app->mode('500');
    ok(wait_lines(1, $mark, down_re('app', $APP)), 'app 500: down')
        or diag($gh->log_since($mark));
    my @f = log_lines($mark, fail_re('app', $APP));
    cmp_ok(scalar @f, '>=', 3, 'app 500: after fall = 3 failed checks');
    like($f[0], qr/failed: status 500$/, 'app 500: failed check says status 500');
    my @d = log_lines($mark, down_re('app', $APP));
    my $after = $mark + index($gh->log_since($mark), $d[0]) + length $d[0];
    ok(wait_lines(2, $after, fail_re('app', $APP)),
       'app 500: two more failed checks');
    @d = log_lines($mark, down_re('app', $APP));
    is(scalar @d, 1, 'app 500: exactly one down line with 4 workers');
    like($d[0], qr/\[warn\] \d+#\d+: upstream app server \Q$APP\E is down \(health check: status 500\)$/,
         'app 500: the down line');
    is(pid_of($d[0]), $ck, 'app 500: logged by the checker');

    $mark = $gh->log_mark;
    $app->mode('200');
    ok(wait_lines(1, $mark, up_re('app', $APP)), 'app 200: up')
        or diag($gh->log_since($mark));
    my $n = $app->requests;
    ok(wait_for(sub { $app->requests >= $n + 2 }, 5), 'app 200: two more checks');
    my @u = log_lines($mark, up_re('app', $APP));
    is(scalar @u, 1, 'app 200: exactly one up line');
    like($u[0], qr/\[notice\] $ck#\d+: /, 'app 200: up at [notice], by the checker');
    is(log_lines($mark, down_re('app', $APP)), 0, 'app 200: no down line');
}

# --- tcp: listener gone -> down, back -> up ------------------------------------------
{
    ok(wait_for(sub { $tcp->conns >= 2 }, 5), 'tcp: checks connect');
    my $mark = $gh->log_mark;
    my $port = $tcp->port;
    $tcp->stop;
    ok(wait_lines(1, $mark, down_re('tcpup', $TCP)), 'tcp: down once the listener is gone')
        or diag($gh->log_since($mark));
    my @d = log_lines($mark, down_re('tcpup', $TCP));
    like($d[0], qr/\(health check: connect\(\) failed \(111: Connection refused\)\)$/,
         'tcp: reason is the refused connect');
    $mark = $gh->log_mark;
    $tcp = Health->new(name => 'tcp2', mode => 'tcp', port => $port);
    ok(wait_lines(1, $mark, up_re('tcpup', $TCP)), 'tcp: up when it listens again')
        or diag($gh->log_since($mark));
    my $n = $tcp->conns;
    ok(wait_for(sub { $tcp->conns >= $n + 3 }, 5), 'tcp: checks go on');
    is(log_lines($mark, up_re('tcpup', $TCP)), 1, 'tcp: exactly one up line');
}

# --- the checker killed with SIGKILL ------------------------------------------------
{
    my $mark = $gh->log_mark;
    my $old = $ck;
    ok(kill('KILL', $old), "SIGKILL to the checker ($old)");
    my $new;
    ok(wait_for(sub {
        $new = checker_pid();
        $new && $new != $old && grep { $_ == $new } $gh->children;
    }, 5), 'a new checker is started') or diag($gh->log_since($mark));
    ok(!(grep { $_ == $old } $gh->children), 'the old one is gone');
    is($gh->children, 5, 'still 4 workers and a checker');
    my @l = log_lines($mark, qr/\[error\] \d+#\d+: checker process $old exited on signal 9 \(Killed\)$/);
    is(scalar @l, 1, 'master logged the checker\'s death (pid and signal)')
        or diag($gh->log_since($mark));
    is(pid_of($l[0] // ''), $gh->pid, '... the master did');

    # It goes on checking: a failing server goes down, logged by the new one.
    my $n = $app->requests;
    ok(wait_for(sub { $app->requests >= $n + 2 }, 5), 'new checker: checks arrive');
    $app->mode('500');
    ok(wait_lines(1, $mark, down_re('app', $APP)), 'new checker: app down')
        or diag($gh->log_since($mark));
    my @d = log_lines($mark, down_re('app', $APP));
    is(pid_of($d[0]), $new, 'new checker: logged by it');
    # Its verdicts were in the segment: what was down stays down, silently.
    my $refused = "127.0.0.1:" . $gh->port('refused');
    ok(wait_lines(3, $mark, fail_re('bad', $refused)), 'new checker: bad servers checked');
    is(log_lines($mark, qr/upstream bad server .* is (down|up)/), 0,
       'new checker: no new down line for servers already down');
    $ck = $new;
}

# --- USR1: the checker reopens its log ------------------------------------------------
{
    my $err = $gh->error_log_file;
    rename $err, "$err.1" or die "rename: $!";
    $gh->signal('USR1');
    ok(wait_for(sub {
        grep { /\] $ck#\d+: health check of upstream/ }
            split /\n/, Gatehouse::read_file($err) }, 5),
       'USR1: the checker writes to the new error log');
    my $size = -s "$err.1";
    my $n = $app->requests;
    ok(wait_for(sub { $app->requests >= $n + 3 }, 5), 'USR1: checks go on');
    is(-s "$err.1", $size, 'USR1: nothing more in the renamed one');
}

# --- QUIT stops the checker with the rest ---------------------------------------
{
    my $pid = $ck;
    $gh->signal('QUIT');
    ok(defined $gh->wait_exit(10), 'QUIT: master exits');
    is($gh->{exit}, 0, 'QUIT: exit status 0');
    # The master exits only after reaping every child: the checker too.
    ok(!kill(0, $pid), 'QUIT: the checker is gone');
    ok((grep { /checker process $pid exited with code 0$/ }
            split /\n/, $gh->error_log),
       'QUIT: master logged the checker\'s exit');
    $gh->stop(name => 'QUIT', quiet_exit => 1);
}

finish();
