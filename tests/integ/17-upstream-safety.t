#!/usr/bin/perl
# Upstream safety, one subtest per reviewer's reproduction: the tail of a
# request body is never sent as a request of its own (neither on a fresh
# connection after a stale pooled one, nor to another server); a connection
# the server closed, or wrote past its response on, never goes back to the
# pool; a tunnel after a close-delimited response on the same client
# connection carries the server's bytes; a stream of 1xx responses does not
# cost the request its final response.
#
# The backends are scripted byte by byte (Scripted, just below): they record
# every connection they accept and every byte they read, so each subtest
# can say what the server received as well as what the client got.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 40;

# ==========================================================================
# A backend run by a script: Scripted->new(name => N, conn => sub { my ($s)
# = @_; ... }) listens on an ephemeral 127.0.0.1 port and runs the sub for
# each connection in a process of its own, with $s a Scripted::Conn.
# Everything is recorded as JSON lines: accept, data (every byte read),
# request (heads and bodies read_request parsed), eof, closed, reset.
{
package Scripted;

use strict;
use warnings;

use Fcntl qw(:flock);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX ();

my $JSON = JSON::PP->new->ascii->canonical;

sub new {
    my ($class, %a) = @_;
    my $self = bless { name => $a{name}, dir => Gatehouse::tmpdir(),
                       script => $a{conn} }, $class;
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                 Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "backend listen: $@";
    $self->{port} = $ls->sockport;
    $self->{log} = "$self->{dir}/backend.log";
    Gatehouse::write_file($self->{log}, '');
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        eval { $self->_serve($ls, $parent) };
        POSIX::_exit(0);
    }
    POSIX::setpgid($pid, $pid);
    close $ls;
    $self->{pid} = $pid;
    push @Gatehouse::CLEANUP, sub { $self->stop };
    return $self;
}

sub port { $_[0]{port} }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', -$self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = undef;
}

# Let a script waiting in wait_file(NAME) go on.
sub trigger { Gatehouse::write_file("$_[0]{dir}/$_[1]", '') }

sub events {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    flock $fh, LOCK_SH;
    my @e = map { $JSON->decode($_) } grep { /\S/ } <$fh>;
    close $fh;
    return @e;
}

sub conns { scalar grep { $_->{ev} eq 'accept' } $_[0]->events }
sub requests { grep { $_->{ev} eq 'request' } $_[0]->events }

# Every byte read on connection CONN (1 = first accepted), or on all.
sub bytes {
    my ($self, $conn) = @_;
    return join '', map { $_->{data} }
        grep { $_->{ev} eq 'data' && (!defined $conn || $_->{conn} == $conn) }
        $self->events;
}

sub _serve {
    my ($self, $ls, $parent) = @_;
    alarm 0;
    POSIX::setpgid(0, 0);
    $SIG{$_} = 'DEFAULT' for qw(ALRM TERM INT);
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'IGNORE';
    @Gatehouse::LIVE = ();
    @Gatehouse::CLEANUP = ();
    my $sel = IO::Select->new($ls);
    my $serial = 0;
    while (1) {
        POSIX::_exit(0) if getppid() != $parent;
        next unless $sel->can_read(1);
        my $c = $ls->accept or next;
        $serial++;
        my $pid = fork;
        if (!defined $pid) { close $c; next }
        if ($pid == 0) {
            close $ls;
            my $s = Scripted::Conn->new($self, $c, $serial);
            $s->ev('accept');
            eval { $self->{script}->($s) };
            $s->ev('error', data => "$@") if $@;
            $s->close;
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub _log {
    my ($self, $rec) = @_;
    open my $fh, '>>', $self->{log} or return;
    flock $fh, LOCK_EX;
    print $fh $JSON->encode($rec), "\n";
    close $fh;
}
}

{
package Scripted::Conn;

use strict;
use warnings;

use Errno qw(EINTR EAGAIN);
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_CORK);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, $srv, $sock, $serial) = @_;
    binmode $sock;
    return bless { srv => $srv, sock => $sock, conn => $serial, buf => '' },
        $class;
}

sub ev {
    my ($self, $ev, %f) = @_;
    $self->{srv}->_log({ conn => $self->{conn}, ev => $ev, time => time, %f });
}

# Read what comes within SECS into the buffer: bytes read, 0 at EOF or
# error, undef on timeout.
sub fill {
    my ($self, $secs) = @_;
    return 0 unless $self->{sock};
    my $sel = IO::Select->new($self->{sock});
    my $deadline = time + $secs;
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($self->{sock}, my $d, 256 * 1024);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $self->ev('eof', data => "$!");
            return 0;
        }
        if ($n == 0) {
            $self->ev('eof');
            return 0;
        }
        $self->ev('data', data => $d);
        $self->{buf} .= $d;
        return $n;
    }
}

# The buffer up to and including RE's match (taken out of it), or undef on
# EOF/timeout.
sub read_until {
    my ($self, $re, $secs) = @_;
    my $deadline = time + ($secs // 5);
    while (1) {
        return substr($self->{buf}, 0, $+[0], '') if $self->{buf} =~ $re;
        return undef unless $self->fill($deadline - time);
    }
}

sub read_head { $_[0]->read_until(qr/\r?\n\r?\n/, $_[1]) }

# A request: head, and a Content-Length body.  Returns { method, uri,
# line, head, body } (also recorded), or undef on EOF/timeout.
sub read_request {
    my ($self, $secs) = @_;
    my $deadline = time + ($secs // 5);
    my $head = $self->read_head($secs) // return undef;
    my ($line) = $head =~ /\A([^\r\n]*)/;
    my ($method, $uri) = $line =~ /^(\S+) (\S+)/;
    my ($cl) = $head =~ /^Content-Length:[ \t]*(\d+)/mi;
    while (length $self->{buf} < ($cl // 0)) {
        return undef unless $self->fill($deadline - time);
    }
    my $body = substr($self->{buf}, 0, $cl // 0, '');
    my %r = (method => $method // '', uri => $uri // '', line => $line,
             head => $head, body => $body);
    $self->ev('request', %r);
    return \%r;
}

sub write {
    my ($self, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($self->{sock}, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Hold what is written until close: the FIN goes with the last data.
sub cork { setsockopt($_[0]{sock}, IPPROTO_TCP, TCP_CORK, 1) }

sub close {
    my ($self) = @_;
    return unless $self->{sock};
    CORE::close($self->{sock});
    $self->{sock} = undef;
    $self->ev('closed');
}

sub reset {
    my ($self) = @_;
    return unless $self->{sock};
    setsockopt($self->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    CORE::close($self->{sock});
    $self->{sock} = undef;
    $self->ev('reset');
}

# Wait (up to SECS) for the test to call trigger(NAME).
sub wait_file {
    my ($self, $name, $secs) = @_;
    my $f = "$self->{srv}{dir}/$name";
    return Gatehouse::wait_for(sub { -e $f }, $secs, 0.005);
}
}

package main;

my $SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: evil\r\nX: yyy\r\n\r\n";

# One daemon per subtest (workers = 1, so the pool is shared by every client
# connection), in front of the given backends.  UPSTREAMS: name => [backend,
# ...]; each gets the route "/name/".
sub start_gh {
    my (%ups) = @_;
    my %vars;
    my ($u, $routes) = ('', '');
    for my $name (sort keys %ups) {
        my @srv;
        for my $i (0 .. $#{ $ups{$name} }) {
            my $var = uc("${name}_$i");
            $vars{$var} = $ups{$name}[$i]->port;
            push @srv, qq({ address = "127.0.0.1:%%$var%%"; });
        }
        $u .= "  $name = { keepalive = 8; servers = ( "
            . join(', ', @srv) . " ); };\n";
        $routes .= qq({ path = "/$name/"; upstream = "$name"; }, );
    }
    $routes =~ s/, $//;
    return Gatehouse->new(vars => \%vars, conf => Gatehouse::preamble() . <<"EOF");
timeouts = { client_body = "3s"; upstream_read = "3s"; upstream_send = "3s"; };
upstreams = {
$u};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( $routes ); } );
EOF
}

# A minimal answer with a body.
sub ok_resp { "HTTP/1.1 200 OK\r\nContent-Length: " . length($_[0]) . "\r\n\r\n$_[0]" }

sub status_of { $_[0] ? $_[0]->status : 'none' }

# No request line for /smuggled anywhere: not parsed as a request by a
# backend, and no backend connection starting with it.
sub no_smuggled {
    my ($name, @backends) = @_;
    my @seen;
    for my $be (@backends) {
        push @seen, map { "$be->{name} conn $_->{conn}: request $_->{line}" }
            grep { $_->{line} =~ m{^\S+ /smuggled } } $be->requests;
        for my $conn (1 .. $be->conns) {
            push @seen, "$be->{name} conn $conn starts with it"
                if $be->bytes($conn) =~ m{\A\S+ /smuggled };
        }
    }
    ok(!@seen, $name) or diag(join "\n", @seen);
}

# --- 1. stale pooled connection, body in two parts --------------------------
subtest 'body tail is not replayed as a request after a stale pooled connection' => sub {
    # Answers keep-alive, except a PUT: read all of it, close, no answer
    # (a kept-alive connection the server dropped just as the request came).
    my $be = Scripted->new(name => 'stale', conn => sub {
        my ($s) = @_;
        while (my $r = $s->read_request(5)) {
            return $s->close if $r->{method} eq 'PUT';
            $s->write(ok_resp("ok-$r->{uri}"));
        }
    });
    my $gh = start_gh(b1 => [$be]);

    my $c = $gh->connect;
    $c->send("GET /b1/warm HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is(status_of($r), 200, 'warm-up GET: 200 (its upstream connection is pooled)');

    my $p1 = 'A' x 10;
    $c->send("PUT /b1/put HTTP/1.1\r\nHost: x\r\nContent-Length: "
             . length($p1 . $SMUGGLED) . "\r\n\r\n$p1");
    # The proxy has sent the head and the first 10 bytes on before the rest
    # comes (what a ~300 ms pause does in the reproduction).
    ok(wait_for(sub { $be->bytes =~ /\r\n\r\n\Q$p1\E\z/ }, 3),
       'backend got the PUT head and the first 10 body bytes')
        or diag('backend got: ' . $be->bytes);
    $c->send($SMUGGLED);
    $r = $c->read_response(timeout => 6);
    is(status_of($r), 502, 'client gets 502 (its PUT may have been acted on)');
    unlike($r ? $r->body // '' : '', qr/smuggled/, '... not an answer to /smuggled');

    my @put = grep { $_->{method} eq 'PUT' } $be->requests;
    is(scalar(@put), 1, 'backend got the PUT once');
    is($put[0] && $put[0]{body}, $p1 . $SMUGGLED, '... with its whole 56-byte body');
    my ($warm) = grep { $_->{uri} eq '/b1/warm' } $be->requests;
    is($put[0] && $put[0]{conn}, $warm && $warm->{conn},
       '... on the pooled connection of the warm-up (the scenario happened)');
    no_smuggled('no backend got a request line for /smuggled', $be);
    $c->close;
    $gh->stop;
};

# --- 2. first server resets mid-body: nothing goes to the second ------------
subtest 'body tail is not sent to another server after a reset' => sub {
    my $tail = "GET /smuggled HTTP/1.1\r\nHost: evil\r\n\r\n";
    # A: read the request head, then reset (SO_LINGER 0).
    my $sa = Scripted->new(name => 'A', conn => sub {
        my ($s) = @_;
        $s->read_head(5) or return;
        $s->reset;
    });
    my $sb = Scripted->new(name => 'B', conn => sub {
        my ($s) = @_;
        while (my $r = $s->read_request(5)) {
            $s->write(ok_resp('B!'));
        }
    });
    my $gh = start_gh(b2 => [$sa, $sb]);     # the first pick is A

    my $p1 = 'A' x 10;
    my $c = $gh->connect;
    $c->send("POST /b2/x HTTP/1.1\r\nHost: x\r\nContent-Length: "
             . length($p1 . $tail) . "\r\n\r\n$p1");
    ok(wait_for(sub { grep { $_->{ev} eq 'reset' } $sa->events }, 3),
       'server A got the POST head and reset the connection');
    like($sa->bytes(1), qr{\APOST /b2/x HTTP/1\.1\r\n}, '... A got the POST head');
    $c->send($tail);
    my $r = $c->read_response(timeout => 6);
    is(status_of($r), 502, 'client gets 502');
    unlike($r ? $r->body // '' : '', qr/B!/, '... not an answer from server B');
    is($sb->bytes, '', 'server B received nothing (no /smuggled, no POST)')
        or diag('B got: ' . $sb->bytes);
    is($sb->conns, 0, 'server B got no connection');
    no_smuggled('no backend got a request line for /smuggled', $sa, $sb);
    $c->close;
    $gh->stop;
};

# --- 3. server answers and closes: the connection is not pooled --------------
subtest 'a connection the server closed is not pooled' => sub {
    # One response per connection, then close: with TCP_CORK the FIN rides
    # in the same segment as the response ("cork"), or follows it ("plain").
    my $be = Scripted->new(name => 'closer', conn => sub {
        my ($s) = @_;
        my $r = $s->read_request(5) or return;
        $s->cork if $r->{uri} =~ m{^/b3cork/};
        $s->write(ok_resp('ok'));
        $s->close;
    });
    # An upstream (and so a pool) for each mode.
    my $gh = start_gh(b3cork => [$be], b3plain => [$be]);

    for my $mode (qw(cork plain)) {
        my (@st, @body);
        for my $i (1 .. 5) {
            my $r = $gh->http_post("/b3$mode/$i", "body-$i", timeout => 5);
            push @st, status_of($r);
            push @body, $r ? $r->body : '';
            # The server's FIN is out before the next request comes.
            my ($rec) = grep { $_->{uri} eq "/b3$mode/$i" } $be->requests;
            wait_for(sub { grep { $_->{ev} eq 'closed'
                                  && $_->{conn} == $rec->{conn} } $be->events }, 3)
                if $rec;
        }
        is("@st", '200 200 200 200 200',
           "$mode: five sequential POSTs all get 200 (no 502 from a dead pooled connection)");
        is(scalar(grep { $_ eq 'ok' } @body), 5, "$mode: ... with the server's body");
        my @posts = grep { $_->{uri} =~ m{^/b3$mode/} } $be->requests;
        is(join(' ', map { "$_->{uri}=$_->{body}" } @posts),
           join(' ', map { "/b3$mode/$_=body-$_" } 1 .. 5),
           "$mode: the server got each POST once, with its body");
        is(scalar(keys %{{ map { $_->{conn} => 1 } @posts }}), 5,
           "$mode: ... each on a connection of its own");
    }
    $gh->stop;
};

# --- 4. tunnel after a close-delimited response on the same client connection
subtest 'tunnel after a close-delimited response carries the server bytes' => sub {
    my $be = Scripted->new(name => 'ws', conn => sub {
        my ($s) = @_;
        my $r = $s->read_request(5) or return;
        if ($r->{head} !~ /^Upgrade:/mi) {
            $s->write("HTTP/1.1 200 OK\r\n\r\nhello");   # no CL, no TE
            return $s->close;
        }
        $s->write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\n\r\n");
        # Speak first, once the client has the 101 (so the bytes come on
        # their own, not with the 101 head).
        $s->wait_file('go', 5) or return;
        $s->write('hello-from-backend');
        $s->read_until(qr/from-client/, 5);
        $s->close;
    });
    my $gh = start_gh(b4 => [$be]);

    my $c = $gh->connect;
    $c->send("GET /b4/a HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is(status_of($r), 200, 'close-delimited response: 200');
    is($r && $r->body, 'hello', '... with its body');
    ok($r && !$r->{close_delimited} && !$c->eof,
       '... and the client connection stays open');

    $c->send("GET /b4/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
             . "Upgrade: websocket\r\n\r\n");
    $r = $c->read_response(timeout => 3);
    is(status_of($r), 101, 'Upgrade on the same client connection: 101');
    $be->trigger('go');
    is($c->read_until(qr/hello-from-backend/, 2), 'hello-from-backend',
       'the server bytes reach the client within 2 s');
    $c->send('from-client');
    ok(wait_for(sub { $be->bytes(2) =~ /from-client/ }, 2),
       'the client bytes reach the server');
    my @req = $be->requests;
    is(join(' ', map { "$_->{conn}:$_->{uri}" } @req), '1:/b4/a 2:/b4/ws',
       'the server got GET /b4/a, then the Upgrade on a new connection');
    $c->close;
    $gh->stop;
};

# --- 5. bytes past the response at a full read buffer: not pooled ------------
subtest 'a connection with bytes past the response is not pooled' => sub {
    # The response is exactly 32768 bytes, head and body (the proxy's read
    # buffer), and a second response nobody asked for follows in the same
    # write.
    my $hd = "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n";
    my $blen = 32768 - length(sprintf $hd, 99999);
    my $first = sprintf($hd, $blen) . ('a' x $blen);
    die "response is not 32 KiB" unless length $first == 32768;
    my $be = Scripted->new(name => 'poison', conn => sub {
        my ($s) = @_;
        while (my $r = $s->read_request(5)) {
            if ($r->{uri} eq '/b5/first') {
                $s->write($first . ok_resp('POISON'));
            } else {
                $s->write(ok_resp('real'));
            }
        }
    });
    my $gh = start_gh(b5 => [$be]);

    my $r = $gh->http_get('/b5/first', timeout => 5);
    is(status_of($r), 200, 'first client: 200');
    ok($r && $r->body eq 'a' x $blen, "... with its $blen-byte body");
    my $r2 = $gh->http_get('/b5/second-user', timeout => 5);
    is(status_of($r2), 200, 'another client: 200');
    is($r2 && $r2->body, 'real', '... the answer to its own request, not POISON');

    my %conn = map { $_->{uri} => $_->{conn} } $be->requests;
    ok($conn{'/b5/second-user'}, 'the server got the second request');
    isnt($conn{'/b5/second-user'}, $conn{'/b5/first'},
         '... on another connection than the one with the extra bytes');
    $gh->stop;
};

# --- 6. many interim responses, then the final one ---------------------------
subtest '25 interim 102 responses, then 200' => sub {
    my $be = Scripted->new(name => 'proc', conn => sub {
        my ($s) = @_;
        $s->read_request(5) or return;
        $s->write("HTTP/1.1 102 Processing\r\n\r\n") for 1 .. 25;
        $s->write(ok_resp('final-answer'));
        $s->read_until(qr/(?!)/, 3);   # keep the connection until the proxy goes
    });
    my $gh = start_gh(b6 => [$be]);

    my ($r, $c) = $gh->request_keep($gh->build_request('/b6/slow'), timeout => 5);
    is(status_of($r), 200, 'client gets the final 200 (not 502)')
        or diag('client: ' . ($c && $c->error // '') . ', '
                . scalar($r ? $r->interim : 0) . ' interim responses');
    $c->close if $c;
    is($r && $r->body, 'final-answer', '... with its body');
    ok(!grep({ $_->status != 102 } $r ? $r->interim : ()),
       '... after nothing but the 102s as interim responses');
    is(join(' ', map { $_->{uri} } $be->requests), '/b6/slow',
       'the server got the request once');
    $gh->stop;
};

finish();

