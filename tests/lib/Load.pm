package Load;

# A constant load on a gatehouse daemon from forked client processes that
# count every failure, for the reload, upgrade and worker-kill tests.
#
#   use Load;
#   my $load = Load->new(gh => $gh, clients => { new => 2, keepalive => 2,
#                                                 post => 1, tunnel => 1 });
#   $load->start;
#   $load->wait_progress(20);           # every client did 20 more rounds
#   ... reload, upgrade, kill a worker ...
#   my $s = $load->stop;                # waits for the clients; summary
#   is($s->{failed}, 0) or diag($load->report);
#
# Client modes (how many of each: `clients`):
#   new        one request per connection (Connection: close), GET of a
#              pattern body (Origin's len=N), checked byte for byte
#   keepalive  requests on one connection, reused until gatehouse closes
#              it; GETs of pattern bodies, some chunked (te=chunked), some
#              slow (the head 200 ms late, or the body in pieces 40 ms
#              apart) so that requests are in flight at any moment
#   post       keep-alive too, alternating a POST of a `body_size` (1 MiB)
#              body echoed by the origin (echo=body) and a GET of
#              `body_size` bytes, both checked by MD5
#   tunnel     one WebSocket-style tunnel (Origin's act=upgrade): a line
#              every `tunnel_pace` s, each echoed back before the next
#
# What counts (RFC 9112 9.3 / 9.6 for the keep-alive rules):
#   ok        a complete 200 response with the expected body (a tunnel:
#             one line echoed)
#   failed    anything else for a request that was sent: connect refused
#             or timed out, no response, a partial response, another
#             status, a wrong body, a reset, a timeout; a tunnel that
#             cannot be opened, loses or garbles a line, or is reset
#   resets    failures that involved a TCP reset (ECONNRESET/EPIPE)
#   events    not failures, logged for the report: a keep-alive connection
#             that gatehouse closed after a response (Connection: close,
#             or the FIN of an idle connection seen before the next
#             request was sent: the client reconnects, as a real one
#             would), a tunnel closed by gatehouse (FIN) with every line
#             sent before it answered ("cut": a draining worker ends
#             tunnels after timeouts.shutdown); a line sent as the cut
#             came is lost and counts as a failure only if the close
#             was a reset
# Every failure is a line in $load->failures_file ("TIME client mode
# what: reason"), every event one in $load->events_file.
#
# A keep-alive client looks at its idle connection before reusing it, as
# real clients do: a FIN there is an event (reconnect), a reset a failure.
#
# Live counters: each client rewrites its status file at most every 50 ms
# (and on every failure); $load->totals sums them while the load runs.
#
# Also here, for the tests that look at who holds what: tcp_table,
# socket_inodes, conn_holder and port_sockets read sockets from /proc.
#
# Core modules only.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(time sleep);

use Gatehouse ();
use Origin ();

my @MODES = qw(new keepalive post tunnel);
my @COUNTERS = qw(ok failed resets reconnects cuts bytes);

sub new {
    my ($class, %o) = @_;
    my $gh = $o{gh} or die "Load->new: gh required\n";
    my $self = bless {
        gh          => $gh,
        dir         => $o{dir} // $gh->dir,
        name        => $o{name} // 'load',
        port        => $o{port},                # number or port name
        host        => $o{host} // 'localhost',
        path        => $o{path} // '/load',
        clients     => $o{clients} // { new => 2, keepalive => 2, post => 1,
                                        tunnel => 1 },
        body_size   => $o{body_size} // 1024 * 1024,
        timeout     => $o{timeout} // 10,       # per request, seconds
        tunnel_pace => $o{tunnel_pace} // 0.02,
        pace        => $o{pace} // 0,           # pause between requests
        max_time    => $o{max_time} // 120,     # clients give up after
        kids        => [],
    }, $class;
    $self->{portnum} = $gh->_port_of($self->{port});
    my $b = $self->{dir} . '/' . $self->{name};
    $self->{stop_file} = "$b.stop";
    $self->{failures_file} = "$b.failures";
    $self->{events_file} = "$b.events";
    return $self;
}

sub failures_file { $_[0]{failures_file} }
sub events_file   { $_[0]{events_file} }

# Fork the clients.  Returns $self.
sub start {
    my ($self) = @_;
    die "Load: already started\n" if @{ $self->{kids} };
    unlink $self->{stop_file};
    Gatehouse::write_file($self->{failures_file}, '');
    Gatehouse::write_file($self->{events_file}, '');
    $self->{t_start} = time;
    my $parent = $$;
    my $id = 0;
    for my $mode (@MODES) {
        for (1 .. ($self->{clients}{$mode} // 0)) {
            $id++;
            my $st = "$self->{dir}/$self->{name}.$id.status";
            Gatehouse::write_file($st, '');
            my $pid = fork // die "fork: $!";
            if ($pid == 0) {
                alarm 0;
                $SIG{ALRM} = 'DEFAULT';
                $SIG{PIPE} = 'IGNORE';
                @Gatehouse::LIVE = ();
                @Gatehouse::CLEANUP = ();
                my $cl = Load::Client->new(load => $self, id => $id,
                                           mode => $mode, status => $st,
                                           parent => $parent);
                eval { $cl->run; 1 }
                    or $cl->fail('client', "died: $@");
                $cl->write_status(1);
                POSIX::_exit(0);
            }
            push @{ $self->{kids} }, { pid => $pid, id => $id, mode => $mode,
                                       status => $st };
        }
    }
    return $self;
}

# Sum of the clients' counters now: { ok, failed, ..., by_mode => {...},
# by_client => [ {id, mode, ok, ...} ] }.
sub totals {
    my ($self) = @_;
    my %t = map { ($_ => 0) } @COUNTERS;
    $t{by_mode} = { map { ($_ => { map { ($_ => 0) } @COUNTERS }) } @MODES };
    for my $k (@{ $self->{kids} }) {
        my %c = (id => $k->{id}, mode => $k->{mode},
                 map { ($_ => 0) } @COUNTERS);
        my $line = Gatehouse::read_file($k->{status});
        for my $kv (split ' ', $line) {
            my ($n, $v) = split /=/, $kv, 2;
            $c{$n} = $v if defined $v;
        }
        for my $n (@COUNTERS) {
            $t{$n} += $c{$n};
            $t{by_mode}{ $k->{mode} }{$n} += $c{$n};
        }
        push @{ $t{by_client} }, \%c;
    }
    return \%t;
}

# Wait until every client has done N more successful rounds than now (the
# load is flowing, through whatever just happened).  True if it did within
# SECS.
sub wait_progress {
    my ($self, $n, $secs) = @_;
    my %base = map { ($_->{id} => $_->{ok}) } @{ $self->totals->{by_client} };
    return Gatehouse::wait_for(sub {
        for my $c (@{ $self->totals->{by_client} }) {
            return 0 if $c->{ok} < $base{ $c->{id} } + $n;
        }
        return 1;
    }, $secs // 10, 0.05);
}

# Stop the clients (they finish the request they are in), wait for them
# and return the summary (totals, plus `failures` and `events` lines).
sub stop {
    my ($self) = @_;
    return $self->{summary} if $self->{summary};
    Gatehouse::write_file($self->{stop_file}, '');
    my %live = map { ($_->{pid} => 1) } @{ $self->{kids} };
    Gatehouse::wait_for(sub {
        for my $p (keys %live) {
            delete $live{$p} if waitpid($p, POSIX::WNOHANG()) == $p;
        }
        return !%live;
    }, $self->{timeout} + 5, 0.02);
    for my $p (keys %live) {
        kill 'KILL', $p;
        waitpid $p, 0;
    }
    my $s = $self->totals;
    $s->{killed} = scalar keys %live;
    $s->{seconds} = time - $self->{t_start};
    $s->{failures} = [ $self->failures ];
    $s->{events} = [ $self->events ];
    $self->{summary} = $s;
    return $s;
}

sub _lines { grep { length } split /\n/, Gatehouse::read_file($_[0]) }
sub failures { _lines($_[0]{failures_file}) }
sub events   { _lines($_[0]{events_file}) }

# One line: what ran and what failed.
sub summary_line {
    my ($self, $s) = @_;
    $s //= $self->{summary} // $self->totals;
    my $m = $s->{by_mode};
    my @parts;
    for my $mode (@MODES) {
        next unless $self->{clients}{$mode};
        my $x = $m->{$mode};
        my $what = $mode eq 'tunnel' ? 'lines' : 'requests';
        push @parts, "$mode $x->{ok} $what ok/$x->{failed} failed"
            . ($x->{reconnects} ? " ($x->{reconnects} reconnects)" : '')
            . ($x->{cuts} ? " ($x->{cuts} tunnels cut)" : '');
    }
    return sprintf("%s: %d ok, %d failed, %d resets in %.1f s; %s",
                   $self->{name}, $s->{ok}, $s->{failed}, $s->{resets},
                   $s->{seconds} // time - $self->{t_start},
                   join('; ', @parts));
}

# The summary line, then every failure and (up to 40) events (none with
# events => 0).
sub report {
    my ($self, %o) = @_;
    my $s = $self->{summary} // $self->totals;
    my @f = $self->failures;
    my @e = $self->events;
    my $r = $self->summary_line($s) . "\n";
    $r .= "failures:\n" . join('', map { "  $_\n" } @f) if @f;
    if (@e && ($o{events} // 1)) {
        my @show = @e > 40 ? (@e[0 .. 39], '...') : @e;
        $r .= "events:\n" . join('', map { "  $_\n" } @show);
    }
    return $r;
}

# Tunnel cut events: [time, lifetime of the tunnel] each.
sub cuts {
    my ($self) = @_;
    return map { /^(\S+) .* tunnel cut after (\S+) s/ ? [$1, $2] : () }
        $self->events;
}

# ---- sockets of processes, from /proc (Linux, IPv4) -----------------------

# { inode => [state, local port, remote port, rx_queue] } of every TCP
# socket; state is the kernel's hex code ('01' established, '0A' listen);
# for a listener rx_queue is the length of its accept queue.
sub tcp_table {
    my %t;
    for my $l (split /\n/, Gatehouse::read_file('/proc/net/tcp')) {
        my @f = split ' ', $l;
        next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
        my $lp = hex $1;
        my ($rp) = $f[2] =~ /:([0-9A-F]{4})$/;
        my ($rx) = $f[4] =~ /:([0-9A-F]+)$/;
        $t{ $f[9] } = [$f[3], $lp, hex $rp, hex $rx];
    }
    return \%t;
}

# Socket inodes that PID has open.
sub socket_inodes {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return;
    return map { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:\[(\d+)\]$/
                 ? $1 : () } readdir $d;
}

# Which of PIDS holds the server side of the connection from client port
# CPORT to server port PORT (0 if none).  TABLE: a tcp_table, or taken now.
sub conn_holder {
    my ($port, $cport, $pids, $table) = @_;
    my $t = $table // tcp_table();
    for my $p (@$pids) {
        for my $i (socket_inodes($p)) {
            my $s = $t->{$i} or next;
            return $p if $s->[0] ne '0A' && $s->[1] == $port && $s->[2] == $cport;
        }
    }
    return 0;
}

# (connections held, connections waiting in its accept queues) of process
# PID on server port PORT.
sub port_sockets {
    my ($pid, $port) = @_;
    my $t = tcp_table();
    my ($held, $queued) = (0, 0);
    for my $i (socket_inodes($pid)) {
        my $s = $t->{$i} or next;
        next unless $s->[1] == $port;
        if ($s->[0] eq '0A') { $queued += $s->[3] }
        else                 { $held++ }
    }
    return ($held, $queued);
}

# ==========================================================================
package Load::Client;

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use IO::Select;
use Time::HiRes qw(time sleep);

sub new {
    my ($class, %o) = @_;
    my $self = bless { %o, map { ($_ => 0) } @COUNTERS }, $class;
    $self->{last_status} = 0;
    return $self;
}

sub L { $_[0]{load} }

sub stopping {
    my ($self) = @_;
    return 1 if -e $self->L->{stop_file};
    return 1 if getppid() != $self->{parent};
    return 1 if time - $self->L->{t_start} > $self->L->{max_time};
    return 0;
}

sub write_status {
    my ($self, $force) = @_;
    my $now = time;
    return if !$force && $now - $self->{last_status} < 0.05;
    $self->{last_status} = $now;
    my $f = $self->{status};
    Gatehouse::write_file("$f.tmp",
        join(' ', map { "$_=$self->{$_}" } @COUNTERS) . "\n");
    rename "$f.tmp", $f;
}

sub _append {
    my ($file, $line) = @_;
    open my $fh, '>>', $file or return;
    syswrite $fh, $line;        # one write: lines of clients do not mix
    close $fh;
}

sub _stamp { sprintf '%.3f', time }

sub fail {
    my ($self, $what, $why, $reset) = @_;
    $self->{failed}++;
    $self->{resets}++ if $reset;
    $why =~ s/\s+/ /g;
    _append($self->L->{failures_file}, _stamp() . " c$self->{id} "
            . "$self->{mode} $what: $why" . ($reset ? ' [reset]' : '') . "\n");
    $self->write_status(1);
}

sub event {
    my ($self, $what) = @_;
    _append($self->L->{events_file},
            _stamp() . " c$self->{id} $self->{mode} $what\n");
}

sub ok {
    my ($self, $bytes) = @_;
    $self->{ok}++;
    $self->{bytes} += $bytes // 0;
    $self->write_status;
}

sub run {
    my ($self) = @_;
    my $m = $self->{mode};
    return $self->run_tunnel if $m eq 'tunnel';
    return $self->run_http;
}

sub connect {
    my ($self) = @_;
    my $c = Gatehouse::Client->new(port => $self->L->{portnum},
                                   timeout => $self->L->{timeout});
    return $c;
}

# Did the peer end an idle connection (FIN or RST) or send something
# unasked?  '' (still open), 'eof', 'reset' or 'data'.
sub idle_state {
    my ($c) = @_;
    return '' unless IO::Select->new($c->sock)->can_read(0);
    $c->fill(0);
    return $c->was_reset ? 'reset' : 'eof' if $c->eof;
    return length($c->buffered) ? 'data' : '';
}

# The next request of this client: (raw request, description, check sub
# taking the response and returning an error or '').
sub next_request {
    my ($self, $i) = @_;
    my $L = $self->L;
    my $m = $self->{mode};
    my $p = "$L->{path}/$m/c$self->{id}/$i";
    my $close = $m eq 'new';
    my ($uri, $body, $check);
    if ($m eq 'post' && $i % 2) {
        $self->{post_body} //= join '', map { chr(($_ * 7 + $self->{id}) % 256) }
            0 .. 4095;
        $self->{post_body} = $self->{post_body} x ($L->{body_size} / 4096 + 1)
            if length $self->{post_body} < $L->{body_size};
        $body = substr($self->{post_body}, 0, $L->{body_size});
        my $want = $self->{md5}{post} //= md5_hex($body);
        $uri = "$p?echo=body";
        $check = sub {
            my $b = $_[0]->body;
            return length($b) == length($body) && md5_hex($b) eq $want ? ''
                : "echoed body differs (" . length($b) . " bytes, md5 "
                  . md5_hex($b) . ")";
        };
    } else {
        my $len = $m eq 'post' ? $L->{body_size}
            : (10, 3000, 70000, 500)[$i % 4];
        # Some slow answers, so that requests are in flight whenever
        # something happens: the head late, or the body in slow pieces.
        my $te = $m ne 'keepalive' ? ''
            : $i % 8 == 3 ? '&te=chunked&chunk=100'
            : $i % 8 == 5 ? '&hdelay=0.2'
            : $i % 8 == 7 ? '&bdelay=0.04&chunk=16384'
            : '';
        $uri = "$p?len=$len$te";
        my $want = $self->{md5}{$len} //= md5_hex(Origin::pattern($len));
        $check = sub {
            my $b = $_[0]->body;
            return length($b) == $len && md5_hex($b) eq $want ? ''
                : "body differs (" . length($b) . " of $len bytes)";
        };
    }
    my $r = ($body ? 'POST' : 'GET') . " $uri HTTP/1.1\r\nHost: $L->{host}\r\n";
    $r .= "Content-Length: " . length($body) . "\r\n" if defined $body;
    $r .= "Connection: close\r\n" if $close;
    $r .= "\r\n";
    $r .= $body if defined $body;
    return ($r, ($body ? 'POST ' : 'GET ') . $uri, $check);
}

sub run_http {
    my ($self) = @_;
    my $L = $self->L;
    my $keep = $self->{mode} ne 'new';
    my ($c, $reqs_on_conn, $t_last) = (undef, 0, 0);
    my $i = 0;
    until ($self->stopping) {
        $i++;
        # Everything slow first: the request goes out right after the
        # check that the connection is still open.
        my ($raw, $what, $check) = $self->next_request($i);
        if ($c && $keep) {
            # A real client checks an idle connection before reusing it:
            # a FIN here means gatehouse closed it between requests.
            my $st = idle_state($c);
            if ($st eq 'data') {
                $self->fail('idle connection', 'unsolicited bytes: '
                            . substr($c->buffered, 0, 80));
                $c->close;
                $c = undef;
            } elsif ($st) {
                $self->{reconnects}++;
                $self->event(sprintf "connection closed while idle (%s) "
                             . "after %d requests", $st, $reqs_on_conn);
                if ($st eq 'reset') {
                    $self->fail('idle connection', "reset after "
                                . "$reqs_on_conn requests", 1);
                }
                $c->close;
                $c = undef;
            }
        }
        my $reused = $c ? 1 : 0;
        if (!$c) {
            $c = $self->connect;
            if (!$c) {
                my $e = "$!";
                $self->fail('connect', $e || $@ || 'failed',
                            $e =~ /reset/i);
                sleep 0.01;     # do not spin on a closed port
                next;
            }
            $reqs_on_conn = 0;
        }
        my $err;
        my $r;
        my $idle = $reused ? time - $t_last : 0;
        if (!$c->send($raw, $L->{timeout})) {
            $err = $c->error // 'send failed';
        } else {
            $r = $c->read_response(timeout => $L->{timeout});
            if (!$r) {
                my $got = length $c->buffered;
                $err = ($c->error // 'no response') . ($got
                    ? " after $got bytes of head" : ', nothing received');
                # On loopback the request is in gatehouse's socket as soon
                # as send() returns.  A reset without FIN: it closed the
                # socket with bytes unread (our request).  A FIN: it had
                # read everything, so either it closed before the request
                # came (on a drain: the keep-alive race) or it read the
                # request and then went away without answering.
                $err .= $c->was_reset ? ' (RST: closed with the request unread)'
                    : ' (FIN: closed with nothing unread)'
                    if !$got && $reused;
            } elsif (!$r->complete) {
                $err = 'incomplete response: ' . length($r->body)
                    . ' bytes of body, ' . ($c->error // '?');
            } elsif ($r->status != 200) {
                $err = 'status ' . $r->status;
            } else {
                $err = $check->($r);
            }
        }
        if ($err) {
            my $reset = $c->was_reset || $err =~ /reset|broken pipe/i;
            $err .= sprintf ' (%s connection from port %d, request %d on '
                . 'it, idle %.0f ms)', $reused ? 'reused' : 'new',
                $c->sock->sockport // 0, $reqs_on_conn + 1, $idle * 1000
                if $keep;
            $self->fail($what, $err, $reset);
            $c->close;
            $c = undef;
            next;
        }
        $reqs_on_conn++;
        $t_last = time;
        $self->ok(length $r->body);
        if (!$keep || ($r->header('connection') // '') =~ /\bclose\b/i) {
            if ($keep) {
                $self->{reconnects}++;
                $self->event("Connection: close after $reqs_on_conn requests");
            }
            $c->close;
            $c = undef;
        }
        sleep $L->{pace} if $L->{pace};
    }
    $c->close if $c;
}

sub run_tunnel {
    my ($self) = @_;
    my $L = $self->L;
    my $n = 0;
    until ($self->stopping) {
        $n++;
        my $c = $self->connect;
        if (!$c) {
            $self->fail('tunnel connect', "$!" || 'failed');
            sleep 0.01;
            next;
        }
        my $t_open = time;
        $c->send("GET $L->{path}/ws/c$self->{id}/$n?act=upgrade HTTP/1.1\r\n"
                 . "Host: $L->{host}\r\nUpgrade: websocket\r\n"
                 . "Connection: Upgrade\r\n"
                 . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 . "Sec-WebSocket-Version: 13\r\n\r\n");
        my $r = $c->read_response(timeout => $L->{timeout});
        if (!$r || $r->status != 101) {
            $self->fail("tunnel $n open", $r ? 'status ' . $r->status
                        : 'no response: ' . ($c->error // '?'),
                        $c->was_reset);
            $c->close;
            next;
        }
        my $w = $c->read_until(qr/\n/, $L->{timeout});
        if (!defined $w || $w ne "welcome\n") {
            $self->fail("tunnel $n", 'no welcome line: '
                        . ($c->error // $w), $c->was_reset);
            $c->close;
            next;
        }
        my $lines = 0;
        while (1) {
            if ($self->stopping) {
                $c->send("quit\n");
                $c->read_until(qr/bye\n/, 2);
                last;
            }
            my $st = idle_state($c);
            if ($st eq 'eof') {
                $self->{cuts}++;
                $self->event(sprintf "tunnel cut after %.3f s, %d lines "
                             . "(FIN while idle)", time - $t_open, $lines);
                last;
            }
            if ($st) {
                $self->fail("tunnel $n", "$st while idle after $lines "
                            . "lines", $st eq 'reset');
                last;
            }
            my $line = "c$self->{id} t$n line $lines " . ('x' x ($lines % 50))
                . "\n";
            my $sent = $c->send($line, $L->{timeout});
            my $back = $sent && $c->read_until(qr/\n/, $L->{timeout});
            if (!defined $back || !$back) {
                if ($c->eof && !$c->was_reset) {
                    # Closed by gatehouse (FIN) as the line went: the cut of
                    # a draining tunnel; the line is lost, nothing else.
                    $self->{cuts}++;
                    $self->event(sprintf "tunnel cut after %.3f s, %d lines "
                                 . "(FIN with a line in flight)",
                                 time - $t_open, $lines);
                } else {
                    $self->fail("tunnel $n line $lines", ($c->error
                                // 'no echo'), $c->was_reset
                                || ($c->error // '') =~ /reset|pipe/i);
                }
                last;
            }
            if ($back ne $line) {
                $self->fail("tunnel $n line $lines", "echo differs: $back");
                last;
            }
            $lines++;
            $self->ok(length $line);
            sleep $L->{tunnel_pace} if $L->{tunnel_pace};
        }
        $c->close;
    }
}

1;
