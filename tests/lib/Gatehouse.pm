package Gatehouse;

# Integration-test harness: runs the real daemon on ephemeral loopback ports.
#
#   use Gatehouse;                      # exports wait_for, free_port, finish
#   my $o  = Origin->new(name => 'a');
#   my $gh = Gatehouse->new(conf => <<'EOF', vars => { A => $o->port });
#   ... listen = [ "127.0.0.1:%%PORT_http%%" ]; ... "127.0.0.1:%%A%%" ...
#   EOF
#   my $r = $gh->http_get('/x');        # Gatehouse::Response
#   is($r->status, 200);
#   finish();                           # stop daemons, teardown checks,
#                                       # done_testing
#
# Placeholders in the config: %%TMP%% (the temp dir), %%PORT_name%% (a free
# 127.0.0.1 port, $gh->port('name')), %%NAME%% for each key of vars.
#
# Teardown (finish, or $gh->stop) fails the test on any [alert] line or a
# sanitizer report in the error log or on the daemon's stderr.  Whatever
# happens (die, timeout) the daemons and origins are killed in END.
#
# Core modules only.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Test::More ();
use Time::HiRes qw(time sleep);

our @EXPORT = qw(wait_for free_port dead_port finish);
our $TIMEOUT = 60;        # overall per test file, seconds
our @LIVE;                # started daemons (Gatehouse objects)
our @CLEANUP;             # subs run at END / timeout (Origin registers here)
my $MAIN_PID = $$;

sub import {
    my ($class, %o) = @_;
    $TIMEOUT = $o{timeout} if $o{timeout};
    my $caller = caller;
    no strict 'refs';
    *{"${caller}::$_"} = \&{"Gatehouse::$_"} for @EXPORT;
    $SIG{ALRM} = sub {
        Test::More::fail("overall test timeout ($TIMEOUT s)");
        _kill_all();
        exit 255;
    };
    $SIG{PIPE} = 'IGNORE';
    alarm $TIMEOUT;
}

sub set_timeout { $TIMEOUT = $_[0]; alarm $TIMEOUT }

END {
    _kill_all() if $$ == $MAIN_PID;
}

sub _kill_all {
    for my $gh (@LIVE) {
        $gh->_kill_hard if $gh && $gh->{pid};
    }
    @LIVE = ();
    $_->() for @CLEANUP;
    @CLEANUP = ();
}

# Poll COND every 20 ms until it returns true or SECONDS pass.  Returns the
# last value of COND.
sub wait_for {
    my ($cond, $secs, $interval) = @_;
    $secs //= 5;
    $interval //= 0.02;
    my $deadline = time + $secs;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep $interval;
    }
}

# A free 127.0.0.1 TCP port (bind port 0, read it, close).
sub free_port {
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                Proto => 'tcp', ReuseAddr => 1)
        or die "free_port: $@";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# A port nothing listens on while the test runs: bound but never
# listening (connects are refused), so a test running alongside cannot take
# it as free_port's ports could be.
my @RESERVED;
sub dead_port {
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                Proto => 'tcp') or die "dead_port: $@";
    push @RESERVED, $s;
    return $s->sockport;
}

# Stop every live daemon (with teardown checks) and call done_testing.
sub finish {
    # A copy: stop() takes each out of @LIVE (iterating @LIVE itself skipped
    # every other daemon, which then outlived its test).
    for my $gh (my @live = @LIVE) {
        $gh->stop if $gh->{pid};
    }
    @LIVE = ();
    $_->() for @CLEANUP;
    @CLEANUP = ();
    Test::More::done_testing(@_);
}

# Run CMD (an array ref) with stdout and stderr captured together; kill it
# after SECS.  Returns (exit status or -1 on timeout, output).
sub run_cmd {
    my ($cmd, $secs) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        alarm 0;
        close $r;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $w;
        open STDERR, '>&', $w;
        { no warnings 'exec'; exec @$cmd; }
        print STDERR "exec $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }
    close $w;
    my $out = '';
    my $deadline = time + ($secs // 10);
    my $sel = IO::Select->new($r);
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($r, my $d, 65536);
        last unless $n;
        $out .= $d;
    }
    close $r;
    my $done = wait_for(sub { waitpid($pid, WNOHANG) == $pid },
                        $deadline - time > 0 ? $deadline - time : 0.1);
    if (!$done) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
        return (-1, $out);
    }
    return ($? & 127 ? -1 : $? >> 8, $out);
}

sub bin {
    return $ENV{GH_BIN} if $ENV{GH_BIN};
    my $root = abs_path(dirname(__FILE__) . '/../..');
    return "$root/build/gatehouse";
}

# A temp dir that disappears at exit unless GH_KEEP is set.
sub tmpdir {
    return tempdir('gh-test-XXXXXX', TMPDIR => 1,
                   CLEANUP => !$ENV{GH_KEEP});
}

# The usual top of a test config; every key can be overridden.
sub preamble {
    my (%o) = @_;
    my %d = (workers => 1, pid_file => '"%%TMP%%/gh.pid"',
             error_log => '"%%TMP%%/error.log"', log_level => '"info"',
             access_log => '"%%TMP%%/access.log"', %o);
    return join '', map { "$_ = $d{$_};\n" }
        grep { defined $d{$_} } qw(workers pid_file error_log log_level
                                   access_log);
}

sub new {
    my ($class, %a) = @_;
    my $self = bless {
        dir        => $a{dir} // tmpdir(),
        bin        => $a{bin} // bin(),
        vars       => $a{vars} // {},
        ports      => {},
        allow_alert => $a{allow_alert},
        host       => $a{host} // 'localhost',
        start_timeout => $a{start_timeout} // 10,
    }, $class;
    for my $o (@{ $a{origins} // [] }) {
        $self->{vars}{'ORIGIN_' . $o->name} = $o->port;
    }
    $self->{conf_file} = "$self->{dir}/gatehouse.conf";
    $self->write_conf($a{conf}) if defined $a{conf};
    $self->start if defined $a{conf} && ($a{start} // 1);
    return $self;
}

sub dir       { $_[0]{dir} }
sub pid       { $_[0]{pid} }
sub conf_file { $_[0]{conf_file} }
sub conf_text { $_[0]{conf_text} }
sub error_log_file  { "$_[0]{dir}/error.log" }
sub access_log_file { "$_[0]{dir}/access.log" }

# The port of NAME (%%PORT_NAME%%), allocated on first use.  Names that
# start with "dead" or "refused" get a dead_port(): a port that refuses
# connections for the whole test, which another test running alongside
# cannot take (with a free port it could, and then answer).
sub port {
    my ($self, $name) = @_;
    $name //= 'http';
    return $self->{ports}{$name} //= $name =~ /^(?:dead|refused)/
                                     ? dead_port() : free_port();
}

# Substitute placeholders in TEXT (ports are allocated on first use).
sub expand {
    my ($self, $text) = @_;
    $text =~ s/%%TMP%%/$self->{dir}/g;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $text =~ s{%%(\w+)%%}{
        exists $self->{vars}{$1} ? $self->{vars}{$1}
                                 : die "config placeholder %%$1%% unknown\n"
    }ge;
    return $text;
}

sub write_conf {
    my ($self, $conf, $file) = @_;
    $file //= $self->{conf_file};
    my $text = $self->expand($conf);
    write_file($file, $text);
    $self->{conf_text} = $text if $file eq $self->{conf_file};
    return $file;
}

sub write_file {
    my ($file, $data) = @_;
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $data;
    close $fh or die "$file: $!";
}

sub read_file {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    my $d = <$fh>;
    return $d // '';
}

# [host, port] of every listen address in the written config.
sub listen_addrs {
    my ($self) = @_;
    my @a;
    my $t = $self->{conf_text} // '';
    while ($t =~ /\blisten\s*=\s*\[([^\]]*)\]/g) {
        my $l = $1;
        while ($l =~ /"([^"]+)"/g) {
            my $s = $1;
            if ($s =~ /^\[([^\]]+)\]:(\d+)$/ || $s =~ /^([^:]+):(\d+)$/) {
                my ($h, $p) = ($1, $2);
                $h = '127.0.0.1' if $h eq '*' || $h eq '0.0.0.0';
                push @a, [$h, $p];
            }
        }
    }
    return @a;
}

sub start {
    my ($self, %o) = @_;
    die "already running\n" if $self->{pid};
    my @args = ('-f', '-c', $self->{conf_file}, @{ $o{args} // [] });
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        alarm 0;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/stdout.log";
        open STDERR, '>>', "$self->{dir}/stderr.log";
        { no warnings "exec"; exec $self->{bin}, @args; }
        print STDERR "exec $self->{bin}: $!\n";
        POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);   # also in the child: no race with kill
    $self->{pid} = $pid;
    $self->{exit} = undef;
    push @LIVE, $self unless grep { $_ == $self } @LIVE;
    return $self if $o{no_wait};

    my @addrs = $self->listen_addrs;
    my $ok = wait_for(sub {
        return 'dead' unless $self->alive;
        for my $a (@addrs) {
            my $s = IO::Socket::IP->new(PeerHost => $a->[0],
                                        PeerPort => $a->[1], Proto => 'tcp',
                                        Timeout => 1);
            return 0 unless $s;
            close $s;
        }
        return 1;
    }, $self->{start_timeout}, 0.01);
    if (!$ok || $ok eq 'dead') {
        my $why = !$ok ? "listen ports not accepting" :
            "exited with status " . ($self->{exit} // '?');
        Test::More::diag("gatehouse failed to start: $why\n"
            . "error log:\n" . $self->error_log
            . "stderr:\n" . read_file("$self->{dir}/stderr.log"));
        $self->_kill_hard;
        die "gatehouse did not start: $why\n";
    }
    return $self;
}

# True while the master runs (reaps it when it has exited).  A master
# that is not (yet) our child, such as the new master of a binary upgrade
# (the old master's child until that one exits), is looked up in /proc.
sub alive {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 0 if defined $self->{exit};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid}) {
        $self->{exit} = $?;
        return 0;
    }
    if ($r == -1) {
        my $st = read_file("/proc/$self->{pid}/stat") // '';
        if ($st !~ /^\d+ \(.*\) (\S)/s || $1 eq 'Z') {
            $self->{exit} = 0;
            return 0;
        }
    }
    return 1;
}

# Wait up to SECONDS for the master to exit; returns its wait status or undef.
sub wait_exit {
    my ($self, $secs) = @_;
    wait_for(sub { !$self->alive }, $secs // 10, 0.01);
    return $self->{exit};
}

sub signal {
    my ($self, $sig) = @_;
    return kill $sig, $self->{pid};
}

# Pids of the master's children (workers and helpers), from /proc; their
# number in scalar context.
sub children {
    my ($self) = @_;
    my @c;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = read_file("/proc/$p/stat");
        next unless $st =~ /^\d+ \(.*\) (\S) (\d+)/s;
        next if $1 eq 'Z';
        push @c, $p + 0 if $2 == $self->{pid};
    }
    my @s = sort { $a <=> $b } @c;
    return wantarray ? @s : scalar @s;
}

# Graceful stop (QUIT, or SIG), wait for exit, then the teardown checks.
# Returns the wait status.
sub stop {
    my ($self, %o) = @_;
    return $self->{exit} unless $self->{pid};
    my $name = $o{name} // 'gatehouse';
    if ($self->alive) {
        $self->signal($o{signal} // 'QUIT');
        $self->wait_exit($o{timeout} // 10);
    }
    my $clean = !$self->alive;
    Test::More::ok($clean, "$name: exits after " . ($o{signal} // 'QUIT'))
        unless $o{quiet_exit};
    $self->_kill_hard;      # leftover workers in its process group, if any
    $self->check_logs($name);
    @LIVE = grep { $_ != $self } @LIVE;
    return $self->{exit};
}

# Teardown checks: no [alert], no sanitizer report.
sub check_logs {
    my ($self, $name) = @_;
    $name //= 'gatehouse';
    # error.log and any rotated copies of it
    my $err = join '', map { read_file($_) }
        sort glob($self->error_log_file . '*');
    my @alerts = grep { /\[(alert|emerg)\]/ } split /\n/, $err;
    if (my $allow = $self->{allow_alert}) {
        @alerts = grep { !/$allow/ } @alerts;
    }
    Test::More::ok(!@alerts, "$name: no [alert] in error log")
        or Test::More::diag(join "\n", @alerts);
    my $all = $err . read_file("$self->{dir}/stderr.log");
    my @san = grep { /ERROR: AddressSanitizer|runtime error:|LeakSanitizer|
                      ERROR: ThreadSanitizer|SUMMARY: \w+Sanitizer/x }
        split /\n/, $all;
    Test::More::ok(!@san, "$name: no sanitizer report")
        or Test::More::diag(join "\n", @san[0 .. ($#san < 20 ? $#san : 20)]);
}

sub _kill_hard {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', -$self->{pid};     # its own process group (setpgid above)
    kill 'KILL', $self->{pid} if $self->alive;
    $self->wait_exit(5);
    $self->{pid} = undef unless $self->alive;
}

# ---- logs -------------------------------------------------------------

sub error_log  { read_file($_[0]->error_log_file) }
sub access_log { read_file($_[0]->access_log_file) }
sub access_lines { grep { length } split /\n/, $_[0]->access_log }

# Byte offset of the end of the error log, to look only at what follows.
sub log_mark { -s $_[0]->error_log_file // 0 }

sub log_since {
    my ($self, $mark) = @_;
    my $t = $self->error_log;
    return substr($t, $mark // 0);
}

# Wait for a line after MARK matching every regex in RES (a regex or an
# array of them); returns the line or undef.
sub wait_log {
    my ($self, $res, $mark, $secs) = @_;
    $res = [$res] unless ref $res eq 'ARRAY';
    my $found;
    wait_for(sub {
        for my $l (split /\n/, $self->log_since($mark)) {
            next if grep { $l !~ $_ } @$res;
            $found = $l;
            return 1;
        }
        return 0;
    }, $secs // 3);
    return $found;
}

# Wait until the access log has at least N lines; returns them.
sub wait_access_lines {
    my ($self, $n, $secs) = @_;
    my @l;
    wait_for(sub { @l = $self->access_lines; @l >= $n }, $secs // 3);
    return @l;
}

# ---- clients ------------------------------------------------------------

sub _port_of {
    my ($self, $p) = @_;
    return $self->port('http') unless defined $p;
    return $p if $p =~ /^\d+$/;
    return $self->port($p);
}

sub connect {
    my ($self, %o) = @_;
    return Gatehouse::Client->new(port => $self->_port_of($o{port}),
                                  host => $o{host_addr} // '127.0.0.1',
                                  timeout => $o{timeout});
}

# Send RAW on a new connection and read one response (undef if none).
# Options: port, timeout, head (response to HEAD).
sub request {
    my ($self, $raw, %o) = @_;
    my ($r, $c) = $self->request_keep($raw, %o);
    $c->close if $c;
    return $r;
}

# The same, returning (response, client) with the connection still open.
sub request_keep {
    my ($self, $raw, %o) = @_;
    my $c = $self->connect(%o) or return (undef, undef);
    $c->send($raw);
    my $r = $c->read_response(head => $o{head}, timeout => $o{timeout});
    return ($r, $c);
}

# Build a request.  Options: method, host, headers (array of pairs or
# hash), body, version ('1.1'), close (add Connection: close, default 1).
sub build_request {
    my ($self, $path, %o) = @_;
    my $m = $o{method} // 'GET';
    my $v = $o{version} // '1.1';
    my $r = "$m $path HTTP/$v\r\n";
    my $host = exists $o{host} ? $o{host} : $self->{host};
    $r .= "Host: $host\r\n" if defined $host;
    my $h = $o{headers} // [];
    my @h = ref $h eq 'HASH' ? map { ($_, $h->{$_}) } sort keys %$h : @$h;
    my %seen;
    while (my ($k, $val) = splice @h, 0, 2) {
        $r .= "$k: $val\r\n";
        $seen{lc $k} = 1;
    }
    if (defined $o{body} && !$seen{'content-length'}
            && !$seen{'transfer-encoding'}) {
        $r .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    $r .= "Connection: close\r\n" if $o{close} // 1;
    $r .= "\r\n";
    $r .= $o{body} if defined $o{body};
    return $r;
}

sub http {
    my ($self, $method, $path, %o) = @_;
    return $self->request($self->build_request($path, %o, method => $method),
                          %o, head => $method eq 'HEAD');
}

sub http_get { my ($s, $p, %o) = @_; $s->http('GET', $p, %o) }
sub http_head { my ($s, $p, %o) = @_; $s->http('HEAD', $p, %o) }
sub http_post { my ($s, $p, $body, %o) = @_;
                $s->http('POST', $p, %o, body => $body) }

# ==========================================================================
package Gatehouse::Client;

use strict;
use warnings;
use Errno qw(EINTR EAGAIN EWOULDBLOCK ECONNRESET);
use IO::Select;
use IO::Socket::IP;
use Socket qw(SOL_SOCKET SO_LINGER SHUT_WR);
use Time::HiRes qw(time);

sub new {
    my ($class, %o) = @_;
    # local: the source address (another loopback address, 127.0.0.2...)
    my $s = IO::Socket::IP->new(PeerHost => $o{host} // '127.0.0.1',
                                PeerPort => $o{port}, Proto => 'tcp',
                                Timeout => $o{timeout} // 5,
                                defined $o{local}
                                    ? (LocalHost => $o{local}) : ());
    return undef unless $s;
    $s->blocking(0);
    $s->autoflush(1);
    return bless { sock => $s, buf => '', eof => 0, reset => 0,
                   timeout => $o{timeout} // 5 }, $class;
}

sub sock { $_[0]{sock} }
sub eof { $_[0]{eof} }
sub was_reset { $_[0]{reset} }
sub buffered { $_[0]{buf} }
sub error { $_[0]{error} }

# Write all of DATA (waits for the socket with a deadline).  Returns true
# when everything went out.
sub send {
    my ($self, $data, $secs) = @_;
    my $deadline = time + ($secs // $self->{timeout});
    my $sel = IO::Select->new($self->{sock});
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        if (defined $n) { $off += $n; next; }
        if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
            my $left = $deadline - time;
            if ($left <= 0) { $self->{error} = 'send timeout'; return 0 }
            $sel->can_write($left);
            next;
        }
        $self->{error} = "send: $!";
        return 0;
    }
    return 1;
}

sub shutdown_write { shutdown($_[0]{sock}, SHUT_WR) }

# Close with RST.
sub reset {
    my ($self) = @_;
    setsockopt($self->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    $self->close;
}

sub close {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    $self->{sock} = undef;
}

# Read what is available (waiting up to SECS for the first bytes) into the
# buffer.  Returns bytes read, 0 at EOF, undef on timeout.
sub fill {
    my ($self, $secs) = @_;
    return 0 if $self->{eof};
    my $deadline = time + $secs;
    my $sel = IO::Select->new($self->{sock});
    while (1) {
        my $n = sysread($self->{sock}, my $chunk, 256 * 1024);
        if (defined $n) {
            if ($n == 0) { $self->{eof} = 1; return 0 }
            $self->{buf} .= $chunk;
            return $n;
        }
        if ($! == ECONNRESET) {
            $self->{eof} = $self->{reset} = 1;
            return 0;
        }
        if ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            $self->{error} = "read: $!";
            $self->{eof} = 1;
            return 0;
        }
        my $left = $deadline - time;
        return undef if $left <= 0;
        $sel->can_read($left);
    }
}

# Read until the buffer matches RE; returns the buffer up to and including
# the match (removed from the buffer), or undef on EOF/timeout.
sub read_until {
    my ($self, $re, $secs) = @_;
    my $deadline = time + ($secs // $self->{timeout});
    while (1) {
        if ($self->{buf} =~ $re) {
            my $end = $+[0];
            return substr($self->{buf}, 0, $end, '');
        }
        my $left = $deadline - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        my $n = $self->fill($left);
        if (defined $n && $n == 0) { $self->{error} = 'closed'; return undef }
    }
}

# Exactly N bytes (undef on EOF/timeout; what arrived stays buffered).
sub read_bytes {
    my ($self, $want, $secs) = @_;
    my $deadline = time + ($secs // $self->{timeout});
    while (length $self->{buf} < $want) {
        my $left = $deadline - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        my $n = $self->fill($left);
        if (defined $n && $n == 0) { $self->{error} = 'closed'; return undef }
    }
    return substr($self->{buf}, 0, $want, '');
}

# Everything until EOF (undef on timeout).
sub read_all {
    my ($self, $secs) = @_;
    my $deadline = time + ($secs // $self->{timeout});
    until ($self->{eof}) {
        my $left = $deadline - time;
        if ($left <= 0) { $self->{error} = 'timeout'; return undef }
        $self->fill($left);
    }
    my $d = $self->{buf};
    $self->{buf} = '';
    return $d;
}

# Wait for bytes or EOF; returns what is buffered or '' (and eof set).
sub read_some {
    my ($self, $secs) = @_;
    $self->fill($secs // $self->{timeout}) unless length $self->{buf};
    my $d = $self->{buf};
    $self->{buf} = '';
    return $d;
}

# True when the peer closed within SECS (discarding anything it sent).
sub wait_closed {
    my ($self, $secs) = @_;
    my $deadline = time + ($secs // $self->{timeout});
    until ($self->{eof}) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        $self->fill($left);
    }
    return 1;
}

# Read one response.  Options: head (no body: response to HEAD), timeout,
# keep_1xx (return interim responses too).  Returns a Gatehouse::Response
# (interim 1xx responses in ->interim) or undef with ->error set.
sub read_response {
    my ($self, %o) = @_;
    my $secs = $o{timeout} // $self->{timeout};
    my $deadline = time + $secs;
    my @interim;
    while (1) {
        my $head = $self->read_until(qr/\r?\n\r?\n/, $deadline - time);
        return undef unless defined $head;
        my $r = Gatehouse::Response->parse_head($head);
        if (!$r) {
            $self->{error} = "bad response head: " . substr($head, 0, 200);
            return undef;
        }
        my $st = $r->{status};
        if ($st >= 100 && $st < 200 && $st != 101) {
            push @interim, $r;
            return $r if $o{keep_1xx};
            next;
        }
        $r->{interim} = \@interim;
        if ($o{head} || $st == 101 || $st == 204 || $st == 304) {
            $r->{body} = '';
            $r->{complete} = 1;
            return $r;
        }
        my $te = $r->header('transfer-encoding');
        my $cl = $r->header('content-length');
        if (defined $te && $te =~ /chunked\s*$/i) {
            $r->{chunked} = 1;
            my $body = '';
            while (1) {
                my $line = $self->read_until(qr/\r?\n/, $deadline - time);
                return $self->_partial($r, $body) unless defined $line;
                $line =~ /^([0-9a-fA-F]+)/
                    or do { $self->{error} = "bad chunk line: $line";
                            return undef };
                my $n = hex $1;
                push @{ $r->{chunk_sizes} }, $n;
                if ($n == 0) {
                    my $tr = $self->read_until(qr/(?:^|\n)\r?\n/,
                                               $deadline - time);
                    return $self->_partial($r, $body) unless defined $tr;
                    $r->{trailers} = $tr;
                    last;
                }
                my $d = $self->read_bytes($n, $deadline - time);
                return $self->_partial($r, $body) unless defined $d;
                $body .= $d;
                my $crlf = $self->read_until(qr/\r?\n/, $deadline - time);
                return $self->_partial($r, $body) unless defined $crlf;
            }
            $r->{body} = $body;
            $r->{complete} = 1;
        } elsif (defined $cl) {
            my $d = $self->read_bytes($cl, $deadline - time);
            if (!defined $d) {
                my $b = $self->{buf};
                $self->{buf} = '';
                return $self->_partial($r, $b);
            }
            $r->{body} = $d;
            $r->{complete} = 1;
        } else {
            $r->{close_delimited} = 1;
            my $d = $self->read_all($deadline - time);
            return $self->_partial($r, $self->{buf}) unless defined $d;
            $r->{body} = $d;
            $r->{complete} = 1;
        }
        return $r;
    }
}

sub _partial {
    my ($self, $r, $body) = @_;
    $r->{body} = $body;
    $r->{complete} = 0;
    return $r;
}

# ==========================================================================
package Gatehouse::Response;

use strict;
use warnings;

sub parse_head {
    my ($class, $head) = @_;
    my @lines = split /\r?\n/, $head;
    my $sl = shift @lines // '';
    $sl =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$} or return undef;
    my $r = bless { version => $1, status => $2 + 0, reason => $3 // '',
                    raw_head => $head, headers => [] }, $class;
    for my $l (@lines) {
        next unless length $l;
        $l =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/ or return undef;
        push @{ $r->{headers} }, [$1, $2];
    }
    return $r;
}

sub status   { $_[0]{status} }
sub version  { $_[0]{version} }
sub body     { $_[0]{body} }
sub complete { $_[0]{complete} }
sub raw_head { $_[0]{raw_head} }
sub interim  { @{ $_[0]{interim} // [] } }

# All values of header NAME (case-insensitive).
sub headers_all {
    my ($self, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $self->{headers} };
}

# Values of NAME joined with ", ", or undef when absent.
sub header {
    my ($self, $name) = @_;
    my @v = $self->headers_all($name);
    return @v ? join(', ', @v) : undef;
}

sub header_names { map { $_->[0] } @{ $_[0]{headers} } }

1;
