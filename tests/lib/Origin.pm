package Origin;

# A test origin (backend) that misbehaves on demand.
#
#   my $o = Origin->new(name => 'a');   # forked, listening on $o->port
#   ... requests through gatehouse ...
#   my @r = $o->requests;                # what it received, oldest first
#
# It forks one process per connection and serves keep-alive HTTP/1.1.
# Every request it reads (head and body) is recorded before it answers, as
# one JSON line in $o->log_file: origin, conn (serial of the TCP connection
# at the origin, 1 = first accepted), seq (request number on that
# connection), peer (client port), method, uri, version, headers ([name,
# value] pairs as received), raw_head, chunked (request body was chunked),
# body_len, body_md5, body (when <= 64 KiB).
#
# By default the answer is 200 with a JSON copy of that record as body and
# the headers X-Origin: NAME, X-Conn: N, X-Seq: N.  The query string of the
# request changes this (several may combine):
#   status=N      final status (204 and 304 get no body)
#   len=N         body is pattern(N) instead of the JSON record
#   echo=body     body is the request body
#   te=chunked    chunked response (chunk=N bytes per chunk, default 8192)
#   te=close      no Content-Length: delimited by closing the connection
#   cl=N          send Content-Length: N (with 304/204/HEAD: no body)
#   v=1.0         answer with an HTTP/1.0 status line
#   hdelay=S      sleep S seconds before the response head
#   bdelay=S      sleep S seconds before each body chunk
#   info=N        N interim "103 Early Hints" responses first
#   hdr=Name:val  extra response header (repeatable, url-encoded)
#   close=1       send Connection: close and close after the response
#   kaclose=1     close right after the response without saying so
#   no100=1       ignore Expect: 100-continue
#   act=reset     read the request, then close with RST (SO_LINGER 0)
#   act=close     read the request, then close without a response
#   act=stale     like act=close, but only when seq > 1 (a reused connection)
#   act=badstatus answer with an invalid status line
#   act=garbage   answer with bytes that are not HTTP
#   act=dupcl     two different Content-Length headers
#   act=hugehdr   a response header of size=N bytes (default 1 MiB)
#   act=partial   Content-Length: 100, then 10 bytes, then close
#   act=upgrade   101 Switching Protocols, "welcome\n", then echo every byte
#                 back until the peer closes or sends "quit\n" (then "bye\n"
#                 and close)
# For the cache tests (headers also sent on a 304):
#   cc=V          Cache-Control: V (url-encoded: cc=max-age%3D60)
#   vary=V        Vary: V
#   etag=X        ETag: "X" (etag=W/X: W/"X"); a GET or HEAD whose
#                 If-None-Match lists it (weak comparison) or is "*" gets
#                 304 without a body instead of 200
#   lm=EPOCH      Last-Modified: that time; a GET or HEAD without
#                 If-None-Match whose If-Modified-Since (IMF-fixdate) is not
#                 earlier gets 304 instead of 200
#   date=T        Date: T, with T "now", EPOCH, or +N / -N seconds from now
#   exp=T         Expires: the same forms (anything else is sent verbatim,
#                 exp=0 is "Expires: 0")
#   ranges=1      honour one "bytes=" Range on a 200 to GET: 206 with
#                 Content-Range, 416 (Content-Range: bytes */LEN) when
#                 unsatisfiable; anything else gets the 200
#   cut=N         send the head (framing for the whole body) and N bytes of
#                 body, then close: a response cut mid-body
# Options can also be forced on every request, whatever its query says:
#   $o->force('status=503');             # over the query's own options
#   $o->force('etag=v2&cc=max-age%3D60'); # (hdr= adds headers)
#   $o->force(undef);                    # back to the query alone
# A record then has forced (the string), and not_modified (1) when a
# precondition made it a 304.  Origin::http_date(EPOCH) and
# Origin::parse_http_date(TEXT) convert IMF-fixdates; $o->count_fast and
# $o->last_fast are count and last_request without decoding every record.
#
# Core modules only.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Errno qw(EINTR EAGAIN);
use Fcntl qw(:flock);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use Time::Local ();

use Gatehouse ();

my $N = 0;
my $JSON = JSON::PP->new->ascii->canonical;

sub new {
    my ($class, %a) = @_;
    my $self = bless {
        name => $a{name} // 'o' . ++$N,
        dir  => $a{dir} // Gatehouse::tmpdir(),
        idle => $a{idle} // 30,
    }, $class;
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1',
                                 LocalPort => $a{port} // 0, Listen => 128,
                                 ReuseAddr => 1, Proto => 'tcp')
        or die "origin listen: $@";
    $self->{port} = $ls->sockport;
    $self->{log} = "$self->{dir}/origin-$self->{name}.log";
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

sub name     { $_[0]{name} }
sub port     { $_[0]{port} }
sub addr     { "127.0.0.1:$_[0]{port}" }
sub log_file { $_[0]{log} }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', -$self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = undef;
}

# Records of every request received so far (hashrefs, see above).
sub requests {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    flock $fh, LOCK_SH;
    my @r = map { $JSON->decode($_) } grep { /\S/ } <$fh>;
    close $fh;
    return @r;
}

sub count { scalar(my @r = $_[0]->requests) }

sub wait_count {
    my ($self, $n, $secs) = @_;
    return Gatehouse::wait_for(sub { $self->count >= $n }, $secs // 5);
}

sub clear { Gatehouse::write_file($_[0]{log}, '') }

# Options (a query string) applied to every request from now on, over the
# request's own; undef or '' stops it.  Takes effect for the next request
# read (the file is replaced atomically).
sub force {
    my ($self, $opts) = @_;
    my $f = "$self->{log}.force";
    Gatehouse::write_file("$f.tmp", $opts // '');
    rename "$f.tmp", $f or die "rename $f: $!";
}

# An HTTP-date (IMF-fixdate) of EPOCH seconds, without the C locale's help.
my @DAY = qw(Sun Mon Tue Wed Thu Fri Sat);
my @MON = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
sub http_date {
    my ($t) = @_;
    my @g = gmtime($t);
    return sprintf '%s, %02d %s %04d %02d:%02d:%02d GMT', $DAY[$g[6]], $g[3],
        $MON[$g[4]], $g[5] + 1900, $g[2], $g[1], $g[0];
}

# EPOCH of an IMF-fixdate, or undef.
sub parse_http_date {
    my ($s) = @_;
    return undef unless defined $s && $s =~
        /^\s*\w{3}, (\d\d) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT\s*$/;
    my ($d, $m, $y, $H, $M, $S) = ($1, $2, $3, $4, $5, $6);
    my ($mi) = grep { $MON[$_] eq $m } 0 .. 11;
    return undef unless defined $mi;
    return eval { Time::Local::timegm($S, $M, $H, $d, $mi, $y) };
}

sub last_request { ($_[0]->requests)[-1] }

# count and last_request without decoding every record: for tests that
# ask after each of hundreds of requests.
sub count_fast {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return 0;
    flock $fh, LOCK_SH;
    my $n = 0;
    while (<$fh>) { $n++ if /\S/ }
    close $fh;
    return $n;
}

sub last_fast {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return undef;
    flock $fh, LOCK_SH;
    my $last;
    while (<$fh>) { $last = $_ if /\S/ }
    close $fh;
    return defined $last ? $JSON->decode($last) : undef;
}

# Value of header NAME in a record (joined with ", "), undef when absent.
sub rec_header {
    my ($rec, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $rec->{headers} };
    return @v ? join(', ', @v) : undef;
}

# N deterministic bytes: 1 KiB blocks "000000000:" + filler + "\n", the
# number counting blocks, cut to length.
my $PAT = '';
my $FILL = join '', map { chr(ord('a') + $_ % 26) } 0 .. 1012;
sub pattern {
    my ($n) = @_;
    if (length $PAT < $n) {
        my $i = length($PAT) / 1024;
        my $p = '';
        $p .= sprintf("%09d:", $i++) . $FILL . "\n"
            while length($PAT) + length($p) < $n;
        $PAT .= $p;
    }
    return substr($PAT, 0, $n);
}

# ---- the server (child processes) -----------------------------------------

sub _serve {
    my ($self, $ls, $parent) = @_;
    alarm 0;
    POSIX::setpgid(0, 0);
    $SIG{$_} = 'DEFAULT' for qw(ALRM TERM INT);
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'IGNORE';      # connection children reap themselves
    @Gatehouse::LIVE = ();
    @Gatehouse::CLEANUP = ();
    my $sel = IO::Select->new($ls);
    my $serial = 0;
    while (1) {
        # The test process died without stopping us: go too.
        POSIX::_exit(0) if getppid() != $parent;
        next unless $sel->can_read(1);
        my $c = $ls->accept or next;
        $serial++;
        my $pid = fork;
        if (!defined $pid) { close $c; next }
        if ($pid == 0) {
            close $ls;
            eval { $self->_conn($c, $serial) };
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub _read_more {
    my ($c, $bufr, $secs) = @_;
    my $sel = IO::Select->new($c);
    my $deadline = time + $secs;
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($c, my $d, 256 * 1024);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        return 0 if $n == 0;
        $$bufr .= $d;
        return $n;
    }
}

sub _read_until {
    my ($c, $bufr, $re, $secs) = @_;
    my $deadline = time + $secs;
    while ($$bufr !~ $re) {
        my $n = _read_more($c, $bufr, $deadline - time);
        return undef unless $n;
    }
    $$bufr =~ $re;
    my $end = $+[0];
    return substr($$bufr, 0, $end, '');
}

sub _read_n {
    my ($c, $bufr, $want, $secs) = @_;
    my $deadline = time + $secs;
    while (length $$bufr < $want) {
        my $n = _read_more($c, $bufr, $deadline - time);
        return undef unless $n;
    }
    return substr($$bufr, 0, $want, '');
}

sub _write {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub _unesc {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9a-fA-F]{2})/chr hex $1/ge;
    return $s;
}

sub _record {
    my ($self, $rec) = @_;
    open my $fh, '>>', $self->{log} or return;
    flock $fh, LOCK_EX;
    print $fh $JSON->encode($rec), "\n";
    close $fh;
}

my %REASON = (100 => 'Continue', 101 => 'Switching Protocols',
              103 => 'Early Hints', 200 => 'OK', 201 => 'Created',
              204 => 'No Content', 206 => 'Partial Content',
              301 => 'Moved Permanently', 304 => 'Not Modified',
              400 => 'Bad Request', 404 => 'Not Found',
              416 => 'Range Not Satisfiable',
              500 => 'Internal Server Error', 503 => 'Service Unavailable');

sub _conn {
    my ($self, $c, $serial) = @_;
    $c->autoflush(1);
    binmode $c;
    my $peer = $c->peerport;
    my $buf = '';
    my $seq = 0;
    while (1) {
        my $head = _read_until($c, \$buf, qr/\r?\n\r?\n/, $self->{idle});
        last unless defined $head;
        $seq++;
        my ($line, @hl) = split /\r?\n/, $head;
        my ($method, $uri, $ver) = $line =~ m{^(\S+) (\S+) HTTP/(\d\.\d)$};
        if (!$method) {
            _write($c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                       . "Connection: close\r\n\r\n");
            last;
        }
        my @h = map { /^([^:]+):[ \t]*(.*?)[ \t]*$/ ? [$1, $2] : [$_, undef] }
            grep { length } @hl;
        my %h;
        for (@h) {
            my $k = lc $_->[0];
            my $v = $_->[1] // '';
            $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        }
        my (%q, @hdr);
        if ($uri =~ /\?(.*)$/) {
            for my $kv (split /&/, $1) {
                my ($k, $v) = split /=/, $kv, 2;
                $v = _unesc($v // '');
                if ($k eq 'hdr') { push @hdr, $v } else { $q{$k} = $v }
            }
        }
        # Options forced by the test (force()), over the query's.
        my $forced = Gatehouse::read_file("$self->{log}.force");
        for my $kv (split /&/, $forced) {
            my ($k, $v) = split /=/, $kv, 2;
            $v = _unesc($v // '');
            if ($k eq 'hdr') { push @hdr, $v } else { $q{$k} = $v }
        }

        if (($h{expect} // '') =~ /100-continue/i && !$q{no100}) {
            _write($c, "HTTP/1.1 100 Continue\r\n\r\n");
        }

        my $body = '';
        my $chunked = 0;
        if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            $chunked = 1;
            while (1) {
                my $l = _read_until($c, \$buf, qr/\r?\n/, $self->{idle});
                return unless defined $l;
                my $n = $l =~ /^([0-9a-fA-F]+)/ ? hex $1 : return;
                if ($n == 0) {
                    # trailers, up to the empty line
                    while (1) {
                        my $t = _read_until($c, \$buf, qr/\r?\n/, $self->{idle});
                        return unless defined $t;
                        last if $t =~ /^\r?\n$/;
                    }
                    last;
                }
                my $d = _read_n($c, \$buf, $n, $self->{idle});
                return unless defined $d;
                $body .= $d;
                return unless defined _read_until($c, \$buf, qr/\r?\n/,
                                                  $self->{idle});
            }
        } elsif (defined $h{'content-length'}) {
            my ($n) = $h{'content-length'} =~ /^(\d+)/;
            $body = _read_n($c, \$buf, $n // 0, $self->{idle});
            return unless defined $body;
        }

        my $rec = { origin => $self->{name}, conn => $serial, seq => $seq,
                    peer => $peer, method => $method, uri => $uri,
                    version => $ver, headers => \@h, raw_head => $head,
                    chunked => $chunked, body_len => length($body),
                    body_md5 => md5_hex($body), time => time,
                    (length($body) <= 65536 ? (body => $body) : ()) };
        $rec->{forced} = $forced if length $forced;
        $rec->{not_modified} = 1 if _not_modified($method, \%h, \%q);
        $self->_record($rec);

        my $keep = $self->_respond($c, $rec, \%h, \%q, \@hdr, \$body, \$buf);
        last unless $keep;
    }
    close $c;
}

# The ETag field value of option etag=X, or undef.
sub _etag {
    my ($x) = @_;
    return undef unless defined $x;
    return $x if $x =~ /^(?:W\/)?"/;
    return $x =~ s{^W/}{}r eq $x ? qq{"$x"} : 'W/"' . substr($x, 2) . '"';
}

# Does a precondition of the request (If-None-Match, else
# If-Modified-Since) turn the 200 that options Q would give into a 304?
sub _not_modified {
    my ($method, $h, $q) = @_;
    return 0 unless $method eq 'GET' || $method eq 'HEAD';
    return 0 if ($q->{status} // 200) != 200 || ($q->{act} // '') ne '';
    if (defined $h->{'if-none-match'}) {
        my $et = _etag($q->{etag});
        return 0 unless defined $et;
        my $want = $et =~ s{^W/}{}r;
        for my $t (split /\s*,\s*/, $h->{'if-none-match'}) {
            $t =~ s/^\s+|\s+$//g;
            return 1 if $t eq '*' || ($t =~ s{^W/}{}r) eq $want;
        }
        return 0;
    }
    if (defined $h->{'if-modified-since'} && defined $q->{lm}) {
        my $t = parse_http_date($h->{'if-modified-since'});
        return defined $t && $t >= $q->{lm} ? 1 : 0;
    }
    return 0;
}

# The value of date=T / exp=T: now, EPOCH, +N, -N (from NOW); else as is.
sub _time_opt {
    my ($v, $now) = @_;
    return http_date($now) if $v eq 'now';
    return http_date($now + $v) if $v =~ /^[+-]\d+$/;
    return http_date($v) if $v =~ /^\d{6,}$/;
    return $v;
}

# Answer one request; returns true to keep the connection open.
sub _respond {
    my ($self, $c, $rec, $h, $q, $hdr, $bodyr, $bufr) = @_;
    my $act = $q->{act} // '';
    my $seq = $rec->{seq};

    if ($act eq 'reset') {
        setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $c;
        return 0;
    }
    if ($act eq 'close' || ($act eq 'stale' && $seq > 1)) {
        close $c;
        return 0;
    }
    sleep $q->{hdelay} if $q->{hdelay};
    if ($act eq 'badstatus') {
        _write($c, "HTTP/1.1 2x0 Broken\r\nContent-Length: 2\r\n\r\nok");
        return 0;
    }
    if ($act eq 'garbage') {
        _write($c, "\x00\x01this is not http at all\r\n\r\n");
        return 0;
    }
    if ($act eq 'dupcl') {
        _write($c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                   . "Content-Length: 7\r\n\r\nhello");
        return 0;
    }
    if ($act eq 'hugehdr') {
        my $n = $q->{size} // 1024 * 1024;
        _write($c, "HTTP/1.1 200 OK\r\nX-Huge: " . ('h' x $n)
                   . "\r\nContent-Length: 2\r\n\r\nok");
        return 0;
    }
    if ($act eq 'partial') {
        _write($c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                   . ('p' x 10));
        close $c;
        return 0;
    }
    if ($act eq 'upgrade') {
        _write($c, "HTTP/1.1 101 Switching Protocols\r\n"
                   . "Upgrade: " . ($h->{upgrade} || 'websocket') . "\r\n"
                   . "Connection: Upgrade\r\nX-Origin: $self->{name}\r\n\r\n"
                   . "welcome\n");
        my $acc = '';
        my $pending = $$bufr;   # bytes that came right behind the request
        while (1) {
            my $d = $pending;
            $pending = '';
            if (!length $d) {
                my $n = _read_more($c, \$d, $self->{idle});
                last unless $n;
            }
            _write($c, $d) or last;
            $acc .= $d;
            if ($acc =~ /quit\n/) {
                _write($c, "bye\n");
                last;
            }
            $acc = substr($acc, -5);
        }
        close $c;
        return 0;
    }

    for (1 .. ($q->{info} // 0)) {
        _write($c, "HTTP/1.1 103 Early Hints\r\n"
                   . "Link: </style.css>; rel=preload\r\n\r\n") or return 0;
    }

    my $status = $q->{status} // 200;
    $status = 304 if $rec->{not_modified};
    my $body;
    my $ct = 'application/octet-stream';
    if (defined $q->{len}) {
        $body = pattern($q->{len});
    } elsif (($q->{echo} // '') eq 'body') {
        $body = $$bodyr;
    } else {
        $body = $JSON->encode($rec);
        $ct = 'application/json';
    }
    my $crange;
    if ($q->{ranges} && $status == 200 && $rec->{method} eq 'GET'
            && defined $h->{range}
            && $h->{range} =~ /^\s*bytes\s*=\s*(\d*)-(\d*)\s*$/i
            && length($1 . $2)) {
        my ($f, $l, $size) = ($1, $2, length $body);
        if (!length $f) {               # suffix
            ($f, $l) = ($l >= $size ? 0 : $size - $l, $size - 1);
            $f = $size if $l < 0;
        } else {
            $l = $size - 1 if !length $l || $l >= $size;
        }
        if ($f <= $l && $f < $size) {
            $status = 206;
            $crange = "bytes $f-$l/$size";
            $body = substr($body, $f, $l - $f + 1);
        } elsif (length $f && $f >= $size) {
            $status = 416;
            $crange = "bytes */$size";
            $body = '';
        }
    }
    my $nobody = $status == 204 || $status == 304 || $status < 200
        || $rec->{method} eq 'HEAD';
    my $te = $q->{te} // '';
    my $conn_hdr = $h->{connection} // '';
    my $client_close = $conn_hdr =~ /\bclose\b/i
        || ($rec->{version} eq '1.0' && $conn_hdr !~ /keep-alive/i);
    my $close = $q->{close} || $te eq 'close' || $client_close;

    my $v = $q->{v} // '1.1';
    my $resp = "HTTP/$v $status " . ($REASON{$status} // 'Whatever') . "\r\n"
        . "X-Origin: $self->{name}\r\nX-Conn: $rec->{conn}\r\nX-Seq: $seq\r\n";
    $resp .= "Content-Type: $ct\r\n" unless $status == 204 || $status == 304;
    $resp .= "Content-Range: $crange\r\n" if defined $crange;
    $resp .= "Cache-Control: $q->{cc}\r\n" if defined $q->{cc};
    $resp .= "Vary: $q->{vary}\r\n" if defined $q->{vary};
    $resp .= "ETag: " . _etag($q->{etag}) . "\r\n" if defined $q->{etag};
    $resp .= "Last-Modified: " . http_date($q->{lm}) . "\r\n"
        if defined $q->{lm};
    my $now = int time;     # one clock reading for Date and Expires
    $resp .= "Date: " . _time_opt($q->{date}, $now) . "\r\n"
        if defined $q->{date};
    $resp .= "Expires: " . _time_opt($q->{exp}, $now) . "\r\n"
        if defined $q->{exp};
    for my $x (@$hdr) {
        $resp .= "$x\r\n";
    }
    if (defined $q->{cl}) {
        $resp .= "Content-Length: $q->{cl}\r\n";
    } elsif ($te eq 'chunked') {
        $resp .= "Transfer-Encoding: chunked\r\n" unless $nobody;
    } elsif ($te eq 'close') {
        # no framing: the body ends when we close
    } elsif ($status != 204 && !($status == 304)) {
        $resp .= "Content-Length: " . length($body) . "\r\n";
    }
    if ($q->{close} || $client_close) {
        $resp .= "Connection: close\r\n";
    } elsif ($v eq '1.0' && !$close) {
        $resp .= "Connection: keep-alive\r\n";
    }
    $resp .= "\r\n";
    $body = '' if $nobody;
    # cut=N: the framing above promised the whole body; N bytes, then close.
    my $cut = defined $q->{cut} && $q->{cut} =~ /^\d+$/
        && $q->{cut} < length $body;
    $body = substr($body, 0, $q->{cut}) if $cut;

    my $chunk = $q->{chunk} || 8192;
    if (!$q->{bdelay} && $te ne 'chunked') {
        _write($c, $resp . $body) or return 0;
    } else {
        _write($c, $resp) or return 0;
        for (my $off = 0; $off < length $body; $off += $chunk) {
            sleep $q->{bdelay} if $q->{bdelay};
            my $piece = substr($body, $off, $chunk);
            $piece = sprintf("%x\r\n%s\r\n", length $piece, $piece)
                if $te eq 'chunked';
            _write($c, $piece) or return 0;
        }
        if ($te eq 'chunked' && !$nobody && !$cut) {
            _write($c, "0\r\n\r\n") or return 0;
        }
    }
    return 0 if $cut;
    return 0 if $close || $q->{kaclose};
    return 1;
}

1;
