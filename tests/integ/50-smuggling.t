#!/usr/bin/perl
# Request smuggling and framing (RFC 9110, RFC 9112), one table row per
# vector.  A rejected request gets its exact status and [info] log line,
# then the connection ends (EOF): the origin receives nothing, and a request
# pipelined right behind it is never served.  An accepted one reaches the
# origin exactly once, with the body we framed, and the request behind it is
# served on the same connection as a request of its own.  On the response
# side a raw backend misbehaves byte for byte: the client gets 502, and the
# upstream connection that carried the bad response is closed, never pooled.
# (14-errors.t covers the error pages and 23-limits-hostile.t crashes and
# floods; here each vector is checked for desync.)

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Gatehouse timeout => 120;
use Origin;

# ==========================================================================
# A backend answering each request for /r/NAME with RESP->{NAME}, verbatim
# ("%CONN%" becomes the serial of the TCP connection, 1 = first accepted),
# and keeping the connection open whatever it sent.  Every request line and
# every end of a connection is logged, with the connection's serial.
{
package RawBackend;

use strict;
use warnings;

use Errno qw(EINTR EAGAIN);
use Fcntl qw(:flock);
use IO::Select;
use IO::Socket::IP;
use POSIX ();

my $JSON = JSON::PP->new->canonical;

sub new {
    my ($class, %a) = @_;
    my $self = bless { resp => $a{resp}, dir => Gatehouse::tmpdir() }, $class;
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
                                 Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "backend listen: $@";
    $self->{port} = $ls->sockport;
    $self->{log} = "$self->{dir}/raw.log";
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
    push @Gatehouse::CLEANUP, sub {
        kill 'KILL', -$pid;
        waitpid $pid, 0;
    };
    return $self;
}

sub port { $_[0]{port} }

sub events {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    flock $fh, LOCK_SH;
    my @e = map { $JSON->decode($_) } grep { /\S/ } <$fh>;
    close $fh;
    return @e;
}

sub requests { grep { $_->{ev} eq 'request' } $_[0]->events }

sub closed {
    my ($self, $conn) = @_;
    return grep { $_->{ev} eq 'eof' && $_->{conn} == $conn } $self->events;
}

sub _log {
    my ($self, $rec) = @_;
    open my $fh, '>>', $self->{log} or return;
    flock $fh, LOCK_EX;
    print $fh $JSON->encode($rec), "\n";
    close $fh;
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
            $self->_conn($c, $serial);
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub _conn {
    my ($self, $c, $conn) = @_;
    binmode $c;
    my $sel = IO::Select->new($c);
    my $buf = '';
    while (1) {
        while ($buf !~ /\r\n\r\n/) {
            last unless $sel->can_read(20);
            my $n = sysread($c, my $d, 65536);
            next if !defined $n && ($! == EINTR || $! == EAGAIN);
            last unless $n;
            $buf .= $d;
        }
        last unless $buf =~ s/\A(.*?)\r\n\r\n//s;
        my ($line) = split /\r\n/, $1;
        my ($uri) = $line =~ m{^\S+ (\S+)};
        $self->_log({ ev => 'request', conn => $conn, uri => $uri // '' });
        my ($name) = ($uri // '') =~ m{^/r/([\w-]+)};
        my $resp = $self->{resp}{$name // ''} // $self->{resp}{ok};
        $resp =~ s/%CONN%/$conn/g;
        my $off = 0;
        while ($off < length $resp) {
            my $n = syswrite($c, $resp, length($resp) - $off, $off);
            last unless $n;
            $off += $n;
        }
    }
    $self->_log({ ev => 'eof', conn => $conn });
    close $c;
}
}

package main;

my $OK = "HTTP/1.1 200 OK\r\nX-Conn: %CONN%\r\nContent-Length: 2\r\n\r\nok";
my $H200 = "HTTP/1.1 200 OK\r\nX-Conn: %CONN%\r\n";
my $CHUNKED = "${H200}Transfer-Encoding: chunked\r\n\r\n";

# Response vectors: NAME => [raw response, why (a regex for the error
# log), in_body (1: the head is fine, the chunked body is not)].
my %RESP = (
    'cl-te'     => ["${H200}Content-Length: 5\r\nTransfer-Encoding: chunked"
                    . "\r\n\r\n0\r\n\r\n", qr/Content-Length and Transfer/],
    'te-cl'     => ["${H200}Transfer-Encoding: chunked\r\nContent-Length: 5"
                    . "\r\n\r\n0\r\n\r\n", qr/Content-Length and Transfer/],
    'cl-cl'     => ["${H200}Content-Length: 2\r\nContent-Length: 7\r\n\r\nok",
                    qr/Content-Length/],
    'cl-list'   => ["${H200}Content-Length: 2, 7\r\n\r\nok", qr/Content-Length/],
    'cl-plus'   => ["${H200}Content-Length: +2\r\n\r\nok", qr/Content-Length/],
    'te-ident'  => ["${H200}Transfer-Encoding: chunked, identity\r\n\r\n"
                    . "0\r\n\r\n", qr/Transfer-Encoding/],
    'te-gzip'   => ["${H200}Transfer-Encoding: gzip\r\n\r\nok",
                    qr/Transfer-Encoding/],
    'te-te'     => ["${H200}Transfer-Encoding: chunked\r\n"
                    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    qr/Transfer-Encoding/],
    'te-10'     => ["HTTP/1.0 200 OK\r\nX-Conn: %CONN%\r\nConnection: "
                    . "keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                    . "2\r\nok\r\n0\r\n\r\n", qr/Transfer-Encoding/],
    'ws-colon'  => ["${H200}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                    qr/invalid header/],
    'obs-fold'  => ["${H200}X-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
                    qr/invalid header/],
    'bare-lf'   => ["HTTP/1.1 200 OK\nX-Conn: %CONN%\nContent-Length: 2\n\nok",
                    qr/invalid header/],
    'mixed-lf'  => ["${H200}X-A: a\nContent-Length: 2\r\n\r\nok",
                    qr/invalid header/],
    'nul'       => ["${H200}X-A: a\0b\r\nContent-Length: 2\r\n\r\nok",
                    qr/invalid header/],
    'te-under'  => ["${H200}Content-Length: 2\r\nTransfer_Encoding: chunked"
                    . "\r\n\r\nok", qr/underscore/],
    # RFC 9112 4: one SP, then 3DIGIT (http-parser takes "20" for a code).
    'status-sp' => ["HTTP/1.1  200 OK\r\nX-Conn: %CONN%\r\n"
                    . "Content-Length: 2\r\n\r\nok", qr/status line/],
    'status-20' => ["HTTP/1.1 20 OK\r\nX-Conn: %CONN%\r\n"
                    . "Content-Length: 2\r\n\r\nok", qr/status line/],
    'chunk-bad' => ["${CHUNKED}zz\r\nok\r\n0\r\n\r\n", qr/chunk size/, 1],
    'chunk-big' => ["${CHUNKED}1000000000000002\r\nok\r\n0\r\n\r\n",
                    qr/chunk size/, 1],
    'chunk-crlf' => ["${CHUNKED}2\r\nokXX0\r\n\r\n", qr/CRLF/, 1],
    'chunk-lf'  => ["${CHUNKED}2\nok\n0\n\n", qr/chunk size|CRLF/, 1],
    'chunk-cr'  => ["${CHUNKED}2;a\rb\r\nok\r\n0\r\n\r\n", qr/CRLF/, 1],
);

my $o = Origin->new(name => 'a');
my $raw = RawBackend->new(resp => { ok => $OK,
                                    map { $_ => $RESP{$_}[0] } keys %RESP });
my $gh = Gatehouse->new(origins => [$o], vars => { RAW => $raw->port },
                        conf => Gatehouse::preamble() . <<'EOF');
timeouts = { client_header = "2s"; client_body = "2s"; upstream_read = "3s"; };
limits = { header_size = "8k"; body_size = "1M"; };
upstreams = {
  app = { keepalive = 8; servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
  raw = { keepalive = 8; max_fails = 0;
          servers = ( { address = "127.0.0.1:%%RAW%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/r/"; upstream = "raw"; },
                       { path = "/"; upstream = "app"; } ); } );
EOF

my $CLIENT = qr/client: 127\.0\.0\.1/;
my $CLTE = qr/both Content-Length and Transfer-Encoding/;
my $HIDDEN = "GET /smuggled HTTP/1.1\r\nHost: good\r\n\r\n";
my $HLEN = length $HIDDEN;
my $HEX = sprintf '%x', $HLEN;

# ---- request vectors -------------------------------------------------------
#
# Each row: name; raw (the request, "%P%" standing for its own path); status
# and log (a regex for the reason) when it must be refused; or accept => 1
# and body (what the origin must receive) when it must be served.
#
# Choices where the RFCs leave one (documented in gatehouse.conf(5)):
# - RFC 9110 8.6 lets a recipient take "Content-Length: 5, 5" (or the same
#   value twice) as 5 or refuse it: we refuse any list or repeat, valid
#   framing never needs one.
# - A Transfer-Encoding other than a lone "chunked": 400 when the final
#   coding is not chunked or chunked comes twice (RFC 9112 6.3 (4), 6.1),
#   501 for a coding we do not implement before a final chunked (RFC 9112
#   6.1); either way it is refused and the connection closed.
# - Bare LF as a line end: RFC 9112 2.2 says a recipient MAY take it for
#   CRLF; we never do, in the head or in chunked framing (it is how two
#   parsers come to disagree).
# - Request line: RFC 9112 3 allows parsing on any whitespace; we take
#   exactly one SP between the three parts (3: "SHOULD NOT attempt to
#   autocorrect").
my @REQ = (
    # --- Content-Length (RFC 9110 8.6, RFC 9112 6.3) ---
    { name => 'CL and TE', status => 400, log => $CLTE,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: $HLEN\r\n"
           . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n$HIDDEN" },
    { name => 'TE and CL', status => 400, log => $CLTE,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "Content-Length: 3\r\n\r\n0\r\n\r\n" },
    { name => 'two differing Content-Length', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5\r\n"
           . "Content-Length: 6\r\n\r\nhello!" },
    { name => 'Content-Length twice, same value', status => 400,
      log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5\r\n"
           . "Content-Length: 5\r\n\r\nhello" },
    { name => 'Content-Length: 5, 6', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5, 6\r\n\r\nhello!" },
    { name => 'Content-Length: 5, 5', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5, 5\r\n\r\nhello" },
    { name => 'Content-Length: +5', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: +5\r\n\r\nhello" },
    { name => 'Content-Length: 0x5', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 0x5\r\n\r\nhello" },
    { name => 'Content-Length: -1', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: -1\r\n\r\n" },
    { name => 'Content-Length: 5 5', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5 5\r\n\r\nhello" },
    { name => 'Content-Length of 2^64 + 5', status => 400, log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\n"
           . "Content-Length: 18446744073709551621\r\n\r\nhello" },
    { name => 'Content-Length of 18 digits (syntax ok, over body_size)',
      status => 413, log => qr/too large body/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\n"
           . "Content-Length: 999999999999999999\r\n\r\nhello" },
    # RFC 9110 5.5: OWS around a field value is not part of it.
    { name => 'Content-Length with OWS around it', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: \t5 \r\n\r\nhello" },
    { name => 'Content_Length (underscore) beside Content-Length', status => 400,
      log => qr/underscore/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5\r\n"
           . "Content_Length: 40\r\n\r\nhello" },

    # --- Transfer-Encoding (RFC 9112 6.1, 7) ---
    { name => 'TE: chunked, identity', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked, identity"
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: gzip, chunked', status => 501, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: gzip, chunked"
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: chunked, chunked', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked, chunked"
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: xchunked', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: xchunked"
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: "chunked" (quoted)', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: \"chunked\""
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: chunked;q=1 (parameter)', status => 501, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked;q=1"
           . "\r\n\r\n0\r\n\r\n" },
    { name => 'TE: identity', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: identity"
           . "\r\n\r\nhello" },
    { name => 'TE empty', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding:\r\n\r\nhello" },
    { name => 'two TE headers', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
    { name => 'TE gzip, then TE chunked', status => 501, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: gzip\r\n"
           . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
    # RFC 9112 5.1: no whitespace between a field name and the colon.
    { name => 'Transfer-Encoding : chunked', status => 400,
      log => qr/whitespace before colon/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding : chunked\r\n"
           . "Content-Length: 5\r\n\r\nhello" },
    # RFC 9112 5.1 and RFC 9110 5.6.3: OWS (SP or HTAB) may precede a value.
    { name => 'Transfer-Encoding:<TAB>chunked', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding:\tchunked\r\n\r\n"
           . "5\r\nhello\r\n0\r\n\r\n" },
    # RFC 9112 7: transfer-coding names are case-insensitive.
    { name => 'TE: CHUNKED', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
           . "5\r\nhello\r\n0\r\n\r\n" },
    { name => 'TE: chunked with trailing SP', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked  \r\n\r\n"
           . "5\r\nhello\r\n0\r\n\r\n" },
    # RFC 9110 5.5 would take trailing HTAB as OWS too, but http-parser 2.9
    # allows only SP after "chunked" and fails the head: refused, never a
    # desync.
    { name => 'TE: chunked with trailing HTAB', status => 400,
      log => qr/transfer-encoding/i,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\t\r\n\r\n"
           . "5\r\nhello\r\n0\r\n\r\n" },
    # RFC 9112 6.1: TE in HTTP/1.0 means faulty framing, even with CL.
    { name => 'TE in HTTP/1.0', status => 400, log => qr/HTTP\/1\.0/,
      raw => "POST %P% HTTP/1.0\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "\r\n5\r\nhello\r\n0\r\n\r\n" },
    { name => 'TE and CL in HTTP/1.0', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.0\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "Content-Length: 5\r\n\r\nhello" },
    # A backend that maps "_" to "-" (CGI, WSGI) would see a second TE.
    { name => 'Transfer_Encoding (underscore) with CL', status => 400,
      log => qr/underscore/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 5\r\n"
           . "Transfer_Encoding: chunked\r\n\r\nhello" },

    # --- chunked framing (RFC 9112 7.1) ---
    { name => 'chunk size with leading space', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . " 5\r\nhello\r\n0\r\n\r\n" },
    # 7.1.1: BWS only before ";" of an extension, not before CRLF.
    { name => 'chunk size with trailing space', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5 \r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk size, BWS, extension', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5 ;a=b\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk size 0x5', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "0x5\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk size -5', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "-5\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk size overflow (2^64 + 5)', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "10000000000000005\r\nhello\r\n0\r\n\r\n" },
    { name => 'empty chunk size', status => 400, log => qr/chunk size/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk extension with bare CR', status => 400, log => qr/CRLF/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5;a\rb\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk extension with bare LF', status => 400, log => qr/chunk extension/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5;a\nb\r\nhello\r\n0\r\n\r\n" },
    { name => 'chunk extension with NUL', status => 400, log => qr/chunk extension/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5;a\0b\r\nhello\r\n0\r\n\r\n" },
    { name => 'no CRLF after chunk data', status => 400, log => qr/CRLF/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5\r\nhello0\r\n\r\n" },
    { name => 'chunk data longer than its size', status => 400, log => qr/CRLF/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "3\r\nhello\r\n0\r\n\r\n" },
    { name => 'LF-only chunk lines', status => 400, log => qr/chunk size|CRLF/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5\nhello\n0\n\n" },
    { name => 'LF after chunk data', status => 400, log => qr/CRLF/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5\r\nhello\n0\r\n\r\n" },
    # The request after "0\r\n" is the trailer section: not field lines.
    { name => 'last chunk without its CRLF, then a request', status => 400,
      log => qr/trailer/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "0\r\n$HIDDEN" },
    { name => 'trailer line with bare LF', status => 400, log => qr/trailer/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "0\r\nX-T: 1\n\r\n" },
    { name => 'obs-fold in the trailer section', status => 400, log => qr/trailer/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "0\r\nX-T: 1\r\n 2\r\n\r\n" },
    { name => 'trailer field, dropped', accept => 1, body => 'hello',
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" },

    # --- field lines (RFC 9112 5, RFC 9110 5.5) ---
    { name => 'obs-fold continuation line', status => 400, log => qr/folding/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A: a\r\n b\r\n\r\n" },
    { name => 'obs-fold under Transfer-Encoding', status => 400, log => qr/folding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding:\r\n chunked\r\n"
           . "Content-Length: 5\r\n\r\nhello" },
    { name => 'whitespace before the colon', status => 400,
      log => qr/whitespace before colon/,
      raw => "GET %P% HTTP/1.1\r\nHost : good\r\n\r\n" },
    { name => 'tab before the colon', status => 400, log => qr/whitespace before colon/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A\t: b\r\n\r\n" },
    { name => 'NUL in a header value', status => 400, log => qr/control character/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A: a\0b\r\n\r\n" },
    { name => 'NUL in a header name', status => 400, log => qr/control character/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-\0A: b\r\n\r\n" },
    { name => 'control character in a value', status => 400, log => qr/control character/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A: a\x01b\r\n\r\n" },
    { name => 'DEL in a value', status => 400, log => qr/control character/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A: a\x7fb\r\n\r\n" },
    { name => 'bare CR in a value', status => 400, log => qr/control character/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-A: a\rb\r\n\r\n" },
    { name => 'header name with "["', status => 400, log => qr/invalid header name/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX[A]: b\r\n\r\n" },
    { name => 'header name with "/"', status => 400, log => qr/invalid header name/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX/A: b\r\n\r\n" },
    { name => 'header name with a quote', status => 400, log => qr/invalid header name/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX\"A: b\r\n\r\n" },
    { name => 'header name of 8-bit bytes', status => 400, log => qr/invalid header name/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nX-\xc3\xa9: b\r\n\r\n" },
    { name => 'empty header name', status => 400, log => qr/invalid header name/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\n: b\r\n\r\n" },
    { name => 'bare LF line ends', status => 400, log => qr/bare LF/,
      raw => "GET %P% HTTP/1.1\nHost: good\n\n" },
    { name => 'one bare LF among CRLFs', status => 400, log => qr/bare LF/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\nX-A: b\r\n\r\n" },
    { name => 'bare LF ending the head', status => 400, log => qr/bare LF/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\n\n" },
    { name => 'LF CR line end', status => 400, log => qr/bare LF|control/,
      raw => "GET %P% HTTP/1.1\n\rHost: good\r\n\r\n" },

    # --- request line (RFC 9112 3) ---
    { name => 'two spaces after the method', status => 400, log => qr/request line/,
      raw => "GET  %P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'two spaces before the version', status => 400, log => qr/request line/,
      raw => "GET %P%  HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'space after the version', status => 400, log => qr/request line/,
      raw => "GET %P% HTTP/1.1 \r\nHost: good\r\n\r\n" },
    { name => 'tab as separator', status => 400, log => qr/request line|invalid/,
      raw => "GET\t%P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'space before the method', status => 400, log => qr/request line|invalid/,
      raw => " GET %P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'two request targets', status => 400, log => qr/request line|invalid/,
      raw => "GET %P% /smuggled HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'HTTP/2.0 request line', status => 505, log => qr/version/,
      raw => "GET %P% HTTP/2.0\r\nHost: good\r\n\r\n" },

    # --- Host (RFC 9112 3.2, 3.2.2; RFC 9110 7.2) ---
    { name => 'no Host in HTTP/1.1', status => 400, log => qr/no Host/,
      raw => "GET %P% HTTP/1.1\r\nX-A: b\r\n\r\n" },
    { name => 'two Host headers', status => 400, log => qr/more than one Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nHost: evil\r\n\r\n" },
    { name => 'Host with two values', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good, evil\r\n\r\n" },
    { name => 'Host with two values, no space', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good,evil\r\n\r\n" },
    { name => 'Host with a space inside', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good evil\r\n\r\n" },
    { name => 'Host with a path', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good/evil\r\n\r\n" },
    { name => 'Host with userinfo', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: evil\@good\r\n\r\n" },
    { name => 'Host with a bad port', status => 400, log => qr/invalid Host/,
      raw => "GET %P% HTTP/1.1\r\nHost: good:8x\r\n\r\n" },
    { name => 'Host with port', accept => 1,
      raw => "GET %P% HTTP/1.1\r\nHost: good:8080\r\n\r\n" },
    { name => 'Host as an IPv6 literal', accept => 1,
      raw => "GET %P% HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n" },
    { name => 'absolute-form whose host disagrees with Host', status => 400,
      log => qr/Host/,
      raw => "GET http://evil%P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'absolute-form whose port disagrees with Host', status => 400,
      log => qr/Host/,
      raw => "GET http://good:81%P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    # RFC 9110 4.2.4: userinfo in an http(s) URI is an error.
    { name => 'absolute-form with userinfo', status => 400, log => qr/Host|target/,
      raw => "GET http://good\@evil%P% HTTP/1.1\r\nHost: evil\r\n\r\n" },
    { name => 'absolute-form agreeing with Host', accept => 1,
      raw => "GET http://good%P% HTTP/1.1\r\nHost: good\r\n\r\n" },
    { name => 'absolute-form agreeing with Host, other case', accept => 1,
      raw => "GET http://GOOD:8080%P% HTTP/1.1\r\nHost: good:8080\r\n\r\n" },

    # --- a request hidden in another one's body is body, not a request ---
    { name => 'request inside a Content-Length body', accept => 1, body => $HIDDEN,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: $HLEN\r\n\r\n$HIDDEN" },
    { name => 'request inside a GET body', accept => 1, body => $HIDDEN,
      raw => "GET %P% HTTP/1.1\r\nHost: good\r\nContent-Length: $HLEN\r\n\r\n$HIDDEN" },
    { name => 'request inside a chunk', accept => 1, body => $HIDDEN,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "$HEX\r\n$HIDDEN\r\n0\r\n\r\n" },
    { name => 'request inside a chunk, TE: CHUNKED', accept => 1, body => $HIDDEN,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
           . "$HEX\r\n$HIDDEN\r\n0\r\n\r\n" },
    { name => 'CL.TE: chunked body ends early, CL covers the request', status => 400,
      log => $CLTE,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: " . (5 + $HLEN)
           . "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$HIDDEN" },
    { name => 'TE.CL: CL ends early, the chunk holds the request', status => 400,
      log => $CLTE,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "Content-Length: 4\r\n\r\n$HEX\r\n$HIDDEN\r\n0\r\n\r\n" },
    { name => 'TE.TE: obfuscated second TE', status => 400, log => qr/Transfer-Encoding/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n"
           . "Transfer-Encoding: x\r\n\r\n0\r\n\r\n$HIDDEN" },
    { name => 'CL.CL: the second CL covers the request', status => 400,
      log => qr/Content-Length/,
      raw => "POST %P% HTTP/1.1\r\nHost: good\r\nContent-Length: 0\r\n"
           . "Content-Length: $HLEN\r\n\r\n$HIDDEN" },
);

sub origin_uris { map { $_->{uri} } $o->requests }

my ($i, $served) = (0, 0);
for my $v (@REQ) {
    $i++;
    my $path = "/v$i";
    (my $raw = $v->{raw}) =~ s/%P%/$path/g;
    my $follow = "GET /follow$i HTTP/1.1\r\nHost: good\r\n\r\n";
    my $name = "$v->{name}";
    my $mark = $gh->log_mark;
    my $n0 = $o->count;
    my $c = $gh->connect;
    # The next request goes in the same write: nothing of it may be served
    # unless the vector was a whole, valid request.
    $c->send($raw . $follow);
    my $r = $c->read_response(timeout => 5);
    if ($v->{accept}) {
        $served++;
        is($r && $r->status, 200, "$name: accepted (200)")
            or diag($r ? $r->raw_head : 'no response: ' . ($c->error // ''));
        my $r2 = $c->read_response(timeout => 5);
        is($r2 && $r2->status, 200, "$name: the request behind it is served too");
        my @got = grep { $_->{uri} =~ m{(?:^|//[^/]*)(?:/v$i|/follow$i)$} }
            $o->requests;
        is(join(' ', map { $_->{uri} =~ m{(/\w+)$} } @got), "/v$i /follow$i",
           "$name: the origin got it once, then the next one");
        is($got[0] && $got[0]{body}, $v->{body} // '', "$name: with the body we framed")
            if defined $v->{body};
    } else {
        is($r && $r->status, $v->{status}, "$name: $v->{status}")
            or diag($r ? $r->raw_head : 'no response: ' . ($c->error // ''));
        is($c->read_all(2), '', "$name: then EOF, nothing more");
        ok($gh->wait_log([qr/\[info\]/, $v->{log}, $CLIENT], $mark, 2),
           "$name: [info] log line says why")
            or diag("log since request:\n" . $gh->log_since($mark));
        is($o->count, $n0, "$name: nothing reached the origin");
    }
    $c->close;
}
ok(!grep({ m{/smuggled} } origin_uris()), 'no hidden request was ever served');
is($o->count, 2 * $served,
   'the origin got only the accepted requests and the requests behind them');

# ---- response vectors: 502, and the upstream connection is not reused -------

sub raw_conn_of {
    my ($name) = @_;
    my @r = grep { $_->{uri} eq "/r/$name" } $raw->requests;
    return @r == 1 ? $r[0]{conn} : undef;
}

for my $name (sort keys %RESP) {
    my (undef, $why, $in_body) = @{ $RESP{$name} };
    # A pooled connection first, so the bad response comes on a reused one
    # whenever the pool serves it.
    my $w = $gh->http_get('/r/ok', close => 0);
    is($w && $w->status, 200, "response $name: warm-up 200");
    my $mark = $gh->log_mark;
    my $c = $gh->connect;
    $c->send("GET /r/$name HTTP/1.1\r\nHost: good\r\n\r\n");
    my $r = $c->read_response(timeout => 5);
    if ($in_body) {
        # The head was valid; the error is in the chunked body.  The whole
        # response came in one write, so nothing had gone to the client yet.
        is($r && $r->status, 502, "response $name: 502 (nothing was sent "
           . "before the error)");
        ok(!$r || $r->status == 502 || !$r->complete,
           "response $name: the client never gets a complete response");
    } else {
        is($r && $r->status, 502, "response $name: 502")
            or diag($r ? $r->raw_head : 'no response: ' . ($c->error // ''));
    }
    ok($c->wait_closed(3), "response $name: client connection closed");
    $c->close;
    ok($gh->wait_log([qr/\[error\]/, $why, qr/upstream/], $mark, 3),
       "response $name: [error] log line says why")
        or diag("log since request:\n" . $gh->log_since($mark));
    my $bad = raw_conn_of($name);
    ok($bad, "response $name: the backend got the request once");
    ok(wait_for(sub { $bad && $raw->closed($bad) }, 3),
       "response $name: the upstream connection was closed");
    my $n = $gh->http_get('/r/ok');
    is($n && $n->status, 200, "response $name: next request 200");
    isnt($n && $n->header('x-conn'), $bad,
         "response $name: ... on another upstream connection");
}

is($gh->http_get('/ok')->status, 200, 'still serving after every vector');

finish();
