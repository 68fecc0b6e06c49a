package Devmon::Util;

# Shared helpers for devmon's Test::Nginx suites: a raw WebSocket client,
# a WebSocket script runner, a redis-server launcher, python3 and
# "nginx -t" runners, and two hooks every suite gets by loading this file.
#
# Works under both the real CPAN Test::Nginx::Socket and devmon's fallback
# (t/lib/fallback): it only uses the interface both share.
#
# Load it after Test::Nginx::Socket:
#
#     use Test::Nginx::Socket;
#     use Devmon::Util;
#
# Loading it installs:
#
# 1. A block preprocessor that adds the pattern qr/\[(?:alert|crit)\]/ to
#    every block's --- no_error_log (unless the block itself mentions
#    [alert or [crit in --- error_log / --- no_error_log).  The real
#    Test::Nginx only warns about [alert]/[crit]; this makes them fail the
#    block.  It costs ONE extra test per block (and per repeat_each).
#
# 2. A response body check that runs, during the block and against the
#    nginx serving the block's config, either:
#      --- ws      a WebSocket script (see ws_run_script below), with
#                  --- ws_uri (default /ws), --- ws_headers (handshake
#                  headers to add or replace, "!Name" removes one) and
#                  --- ws_timeout (seconds per step, default 3); or
#      --- python  a /usr/bin/python3 program (see python_check below),
#                  with --- python_out and --- python_timeout.
#    Each one is ONE test per block (and per repeat_each).  Blocks with
#    --- ws or --- python and no request get "GET /" (the root location,
#    200 "It works!"), so such a block counts: 1 (status) + 1 (ws or
#    python) + its --- no_error_log lines + 1 (alert/crit).
#
# 3. With ws_session_setup() (see "authenticated sessions" below), every
#    block runs against the full product: a redis-server of the suite, an
#    HS256 key, and --- ws scripts / --- python programs that send a valid
#    token, the scripts consuming the session preamble (hello, snapshot)
#    before their first step.
#
# Why this pattern: a body check runs after the block's HTTP request and
# before its error log is checked, while nginx is still up, under both
# harnesses; the script talks to nginx over its own socket with proper
# timing (wait for 101, then frames), which a single --- raw_request
# cannot do; and the error log checks see what the script caused.

use strict;
use warnings;

use base 'Exporter';

use Digest::SHA qw(sha1);
use JSON::PP ();
use File::Temp qw(tempdir);
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(EAGAIN EINTR WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    ws_accept ws_key ws_handshake_request ws_frame ws_close_payload
    ws_connect ws_read_frame ws_parse_frame ws_run_script
    start_redis stop_redis redis_cmd run_python nginx_config_test
    ws_session_setup ws_session_token ws_session_preamble
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);
our @EXPORT = @EXPORT_OK;

my $WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
my %OPCODES = (cont => 0, text => 1, binary => 2, close => 8, ping => 9,
               pong => 10);
my %OPNAMES = reverse %OPCODES;
my $ALERT_CRIT = qr/\[(?:alert|crit)\]/;
my $Installed;
my $OwnerPid = $$;
my $Session;

# writes to a peer that has closed must fail with EPIPE, not kill us
$SIG{PIPE} = 'IGNORE';


sub import {
    install_hooks();
    __PACKAGE__->export_to_level(1, @_);
}


sub install_hooks {
    return if $Installed++;

    die "Devmon::Util: load Test::Nginx::Socket first\n"
        unless defined &Test::Nginx::Socket::add_response_body_check;

    Test::Nginx::Util::add_block_preprocessor(\&preprocess_block);
    Test::Nginx::Socket::add_response_body_check(\&body_check);
}


sub section {
    my ($block, $name) = @_;

    return exists $block->{$name} ? $block->$name : undef;
}


sub preprocess_block {
    my $block = shift;
    my $mentions = 0;

    for my $s (qw(error_log no_error_log)) {
        my $v = section($block, $s);
        next unless defined $v;

        for my $p (ref $v eq 'ARRAY' ? @$v : ($v)) {
            $mentions = 1 if !ref $p && $p =~ /\[(?:alert|crit)/;
        }
    }

    if (!$mentions) {
        my $v = section($block, 'no_error_log');
        my @pats = !defined $v        ? ()
                 : ref $v eq 'ARRAY'  ? @$v
                 : ref $v             ? ($v)
                 : grep { length } split /\n+/, $v;

        $block->set_value('no_error_log', [@pats, $ALERT_CRIT]);
    }

    if ((defined section($block, 'ws') || defined section($block, 'python'))
        && !defined section($block, 'request')
        && !defined section($block, 'raw_request')
        && !defined section($block, 'pipelined_requests'))
    {
        $block->set_value('request', "GET /\n");
    }
}


sub server_port {
    return $Test::Nginx::Util::ServerPortForClient
           || $Test::Nginx::Util::ServerPort;
}


sub body_check {
    my ($block, $body, $req_idx, $repeated_idx, $dry_run) = @_;
    my $name = $block->name;

    return if $req_idx != 0 || $dry_run;

    if (defined(my $script = section($block, 'ws'))) {
        my ($ok, $log) = ws_run_script($script,
            uri => section($block, 'ws_uri') // '/ws',
            headers => section($block, 'ws_headers'),
            timeout => section($block, 'ws_timeout'),
            session => $Session);

        Test::More::ok($ok, "$name - ws script (repeat $repeated_idx)")
            or Test::More::diag($log);
    }

    if (defined(my $code = section($block, 'python'))) {
        python_check($block, $code, $repeated_idx);
    }
}


# --- WebSocket frames -------------------------------------------------

# Sec-WebSocket-Accept for a key (RFC 6455, 4.2.2)
sub ws_accept {
    return encode_base64(sha1(shift() . $WS_GUID), '');
}


# a fresh random key: base64 of 16 random bytes
sub ws_key {
    return encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
}


# The opening handshake as bytes.  %o: uri (default /ws), key, headers:
# "Name: value" lines or an array of [name, value]; a given header
# replaces the default of the same name, "!Name" (or [name, undef])
# removes it.  method and version default to GET and HTTP/1.1.
sub ws_handshake_request {
    my %o = @_;
    my $key = $o{key} // ws_key();
    my @hdrs = (['Host', "127.0.0.1:" . server_port()],
                ['Upgrade', 'websocket'], ['Connection', 'Upgrade'],
                ['Sec-WebSocket-Key', $key],
                ['Sec-WebSocket-Version', '13']);
    my $extra = header_list($o{headers});

    for my $h (@$extra) {
        my ($n, $v) = @$h;
        my ($old) = grep { lc $_->[0] eq lc $n } @hdrs;

        if (!defined $v) {
            @hdrs = grep { lc $_->[0] ne lc $n } @hdrs;
        } elsif ($old && !$old->[2]) {
            ($old->[1], $old->[2]) = ($v, 1);
        } else {
            push @hdrs, [$n, $v, 1];
        }
    }

    my $req = ($o{method} // 'GET') . ' ' . ($o{uri} // '/ws') . ' '
              . ($o{version} // 'HTTP/1.1') . "\r\n";
    $req .= "$_->[0]: $_->[1]\r\n" for @hdrs;

    return "$req\r\n";
}


# Handshake headers as given to ws_handshake_request (text lines or an
# array of [name, value]) as an array of [name, value or undef].
sub header_list {
    my $h = shift // [];

    return $h if ref $h;
    return [map { /^\s*!\s*(\S+)/ ? [$1, undef]
                : /^\s*([^:]+?)\s*:\s?(.*)$/ ? [$1, $2] : () }
            grep { /\S/ } split /\n/, $h];
}


# Close frame payload: 2-byte code (if defined) + reason
sub ws_close_payload {
    my ($code, $reason) = @_;

    return '' unless defined $code;
    return pack('n', $code) . ($reason // '');
}


# One frame as bytes.  %o: op (name or number; default text), payload,
# fin (1), rsv (0..7, RSV1 = 4), mask (1), mask_key (4 bytes; random),
# len (claimed payload length, default the real one), len_size (7, 16 or
# 64: force that length encoding).
sub ws_frame {
    my %o = @_;
    my $op = $o{op} // 'text';
    my $payload = $o{payload} // '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $len = $o{len} // length $payload;
    my $size = $o{len_size} // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);

    $op = $OPCODES{$op} // die "unknown opcode $op\n" if $op !~ /^\d+$/;

    my $frame = chr(($fin ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $op);
    my $m = $mask ? 0x80 : 0;

    if ($size == 7) {
        $frame .= chr($m | $len);
    } elsif ($size == 16) {
        $frame .= chr($m | 126) . pack('n', $len);
    } else {
        $frame .= chr($m | 127) . pack('NN', int($len / 2**32), $len % 2**32);
    }

    return $frame . $payload unless $mask;

    my $key = $o{mask_key} // join '', map { chr int rand 256 } 1 .. 4;
    my $masked = $payload ^ substr($key x (int(length($payload) / 4) + 1),
                                   0, length $payload);

    return $frame . $key . $masked;
}


# Take one complete frame off the front of $$buf.  Returns a hash: fin,
# rsv, op (number), opname, masked, payload (unmasked), and for close
# frames code and reason; undef when $$buf holds no complete frame yet.
sub ws_parse_frame {
    my $buf = shift;

    return undef if length $$buf < 2;

    my ($b0, $b1) = unpack 'CC', $$buf;
    my $len = $b1 & 0x7f;
    my $off = 2;

    if ($len == 126) {
        return undef if length $$buf < 4;
        $len = unpack 'n', substr($$buf, 2, 2);
        $off = 4;

    } elsif ($len == 127) {
        return undef if length $$buf < 10;
        my ($hi, $lo) = unpack 'NN', substr($$buf, 2, 8);
        $len = $hi * 2**32 + $lo;
        $off = 10;
    }

    my $masked = $b1 & 0x80;
    my $key = '';

    if ($masked) {
        return undef if length $$buf < $off + 4;
        $key = substr $$buf, $off, 4;
        $off += 4;
    }

    return undef if length $$buf < $off + $len;

    my $payload = substr $$buf, $off, $len;
    substr($$buf, 0, $off + $len, '');

    if ($masked) {
        $payload ^= substr($key x (int($len / 4) + 1), 0, $len);
    }

    my $f = { fin => $b0 >> 7, rsv => ($b0 >> 4) & 7, op => $b0 & 0xf,
              masked => $masked ? 1 : 0, payload => $payload };
    $f->{opname} = $OPNAMES{$f->{op}} // "op$f->{op}";

    if ($f->{op} == 8 && $len >= 2) {
        $f->{code} = unpack 'n', $payload;
        $f->{reason} = substr $payload, 2;
    }

    return $f;
}


# Connect and do the opening handshake.  %o as ws_handshake_request plus
# timeout (default 3) and raw (bytes to send instead of a built request).
# Returns a connection hash: sock, status, headers ({lc name => value}),
# head (raw response head), buf (bytes already read after the head),
# key, error (set when something failed before a response head came).
sub ws_connect {
    my %o = @_;
    my $timeout = $o{timeout} // 3;
    my $key = $o{key} // ws_key();
    my $c = { key => $key, buf => '', headers => {}, status => 0,
              timeout => $timeout };

    $c->{sock} = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                       PeerPort => $o{port} // server_port(),
                                       Proto => 'tcp', Timeout => $timeout);
    if (!$c->{sock}) {
        $c->{error} = "connect: $!";
        return $c;
    }

    $c->{sock}->blocking(0);

    my $req = $o{raw} // ws_handshake_request(%o, key => $key);
    ws_write($c, $req) or return $c;

    my $deadline = time + $timeout;

    while ($c->{buf} !~ /\r\n\r\n/) {
        my $r = ws_fill($c, $deadline - time);

        if ($r <= 0) {
            $c->{error} = $r < 0 ? 'connection closed before the response '
                                   . "head: \"$c->{buf}\""
                                 : 'timeout waiting for the response head';
            return $c;
        }
    }

    $c->{buf} =~ s/^(.*?)\r\n\r\n//s;
    $c->{head} = $1;

    my ($status, @lines) = split /\r\n/, $c->{head};
    $c->{status} = $status =~ m{^HTTP/1\.1 (\d{3})} ? $1 : 0;

    for (@lines) {
        next unless /^([^:]+):\s*(.*?)\s*$/;
        my $n = lc $1;
        $c->{headers}{$n} = exists $c->{headers}{$n}
                            ? "$c->{headers}{$n}, $2" : $2;
    }

    return $c;
}


# Write all bytes (bounded by the connection timeout); false on error.
sub ws_write {
    my ($c, $data) = @_;
    my $deadline = time + $c->{timeout};
    my $sel = IO::Select->new($c->{sock});

    while (length $data) {
        if (time > $deadline) {
            $c->{error} = 'write timeout';
            return 0;
        }

        next unless $sel->can_write($deadline - time);

        my $n = syswrite $c->{sock}, $data;

        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            $c->{error} = "write: $!";
            return 0;
        }

        substr($data, 0, $n, '');
    }

    return 1;
}


# Read what is available within $wait seconds into $c->{buf}.
# Returns bytes read, 0 on timeout, -1 on EOF or error (sets eof).
sub ws_fill {
    my ($c, $wait) = @_;

    return -1 if $c->{eof};
    $wait = 0 if $wait < 0;

    return 0 unless IO::Select->new($c->{sock})->can_read($wait);

    my $n = sysread $c->{sock}, my $data, 65536;

    if (!defined $n) {
        return 0 if $! == EAGAIN || $! == EINTR;
        $c->{eof} = "read error: $!";
        return -1;
    }

    if ($n == 0) {
        $c->{eof} = 'closed';
        return -1;
    }

    $c->{buf} .= $data;
    return $n;
}


# Next frame from the server within $timeout seconds: a frame hash (see
# ws_parse_frame), or { eof => reason } or { timeout => 1 }.
sub ws_read_frame {
    my ($c, $timeout) = @_;
    my $deadline = time + ($timeout // $c->{timeout});

    return shift @{ $c->{held} } if $c->{held} && @{ $c->{held} };

    while (1) {
        my $f = ws_parse_frame(\$c->{buf});
        return $f if $f;

        my $r = ws_fill($c, $deadline - time);
        return { eof => $c->{eof} } if $r < 0;
        return { timeout => 1 } if $r == 0 && time >= $deadline;
    }
}


# --- WebSocket scripts --------------------------------------------------

# Run a script against the server; returns (ok, transcript).  One step a
# line (a trailing "\" continues it); "#" starts a comment.  EXPR is a
# Perl expression (strings like "\x80", "a" x 200, ping_msg(7),
# close_payload(1000, "bye"); helpers in Devmon::Util::Expr below).
#
#   hdr NAME: REGEX      handshake answer header matches ^REGEX$
#   hdr !NAME            handshake answer has no such header
#   send OP [opts] EXPR  send a frame; OP is text binary cont close ping
#                        pong or a number; opts: fin=0 rsv=N mask=0
#                        len=N (claimed length) len16 len64 split=N
#                        (write N bytes at a time, 20 ms apart)
#   raw EXPR             write raw bytes
#   recv [n=N] [t=S] OP [EXPR]  next frame (N frames) has opcode OP, FIN
#                        set, and payload eq EXPR (=~ EXPR when it is a
#                        qr//; when a code ref, it returns an error text
#                        or undef), e.g. "recv text pong(7)"
#   recv close [CODE[|CODE..] [EXPR]]  a close frame with one of these
#                        codes (and this reason); "recv close none":
#                        empty close payload
#   seek OP EXPR         like recv, but first skips OP frames that do
#                        not match (e.g. pongs of earlier pings)
#   eof                  the server closes the TCP connection (no frame
#                        may come first)
#   gone                 the server ends the connection: pings and a
#                        close frame may come first, then EOF
#   silent SECS          nothing arrives for SECS seconds
#   sleep SECS
#
# Every received frame must be unmasked with RSV bits 0 (RFC 6455 5.1,
# 5.2).  recv and eof wait up to the timeout (t=SECS per step overrides).
#
# %o: uri, headers, port, timeout (seconds per step, default 3), and
# session (what ws_session_setup returned): then the handshake carries
# "Authorization: Bearer <token>" (unless headers name Authorization)
# and the session preamble is consumed before the first step.
sub ws_run_script {
    my ($script, %o) = @_;
    my $timeout = $o{timeout} // 3;
    my @log;
    my $headers = $o{session} ? session_headers($o{session}, $o{headers})
                              : $o{headers};
    my $c = ws_connect(uri => $o{uri}, headers => $headers,
                       port => $o{port}, timeout => $timeout);
    my $fail = sub {
        push @log, "FAILED: @_";
        close $c->{sock} if $c->{sock};
        return (0, join "\n", @log);
    };

    return $fail->($c->{error}) if $c->{error};

    push @log, "handshake: $c->{status}";
    return $fail->("handshake answered $c->{status}, not 101:\n$c->{head}")
        if $c->{status} != 101;

    my $accept = $c->{headers}{'sec-websocket-accept'} // '';
    return $fail->("bad Sec-WebSocket-Accept \"$accept\"")
        if $accept ne ws_accept($c->{key});

    if ($o{session}) {
        my $err = ws_session_preamble($c, $timeout, \@log);
        return $fail->("session preamble: $err") if defined $err;
    }

    my $lineno = 0;

    # a line ending in a backslash goes on in the next one
    $script =~ s/\\\n\s*/ /g;

    for my $line (split /\n/, $script) {
        $lineno++;
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '' || $line =~ /^#/;

        push @log, "step $lineno: $line";

        my ($verb, $rest) = split ' ', $line, 2;
        $rest //= '';

        my %opt;
        while ($rest =~ s/^(fin|rsv|mask|len|split|t|n)=(\d+(?:\.\d+)?)\s*//
               || $rest =~ s/^(len16|len64)\b\s*//)
        {
            $opt{$1} = $2 // 1;
        }

        my $t = $opt{t} // $timeout;
        my $err = ws_step($c, $verb, $rest, \%opt, $t, \@log);

        return $fail->("line $lineno \"$line\": $err") if defined $err;
    }

    close $c->{sock};
    return (1, join "\n", @log);
}


sub ws_eval {
    my $expr = shift;

    return '' if $expr !~ /\S/;

    my $v = eval "package Devmon::Util::Expr; no strict; $expr";
    die "bad expression \"$expr\": $@" if $@;
    return $v;
}


sub show {
    my $s = shift // '';
    my $more = length $s > 200 ? '...(' . length($s) . ' bytes)' : '';

    $s = substr $s, 0, 200;
    $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return "\"$s\"$more";
}


sub show_frame {
    my $f = shift;

    return "EOF ($f->{eof})" if $f->{eof};
    return 'nothing (timeout)' if $f->{timeout};

    my $s = "$f->{opname} fin=$f->{fin}";
    $s .= " rsv=$f->{rsv}" if $f->{rsv};
    $s .= " MASKED" if $f->{masked};
    $s .= " code=$f->{code} reason=" . show($f->{reason})
        if defined $f->{code};
    $s .= " payload=" . show($f->{payload}) unless defined $f->{code};
    return $s;
}


# One script step; returns undef on success or an error message.
sub ws_step {
    my ($c, $verb, $rest, $opt, $t, $log) = @_;
    my $v;

    if ($verb eq 'hdr') {
        if ($rest =~ /^!\s*(\S+)$/) {
            my $h = $c->{headers}{lc $1};
            return defined $h ? "header $1 present: \"$h\"" : undef;
        }

        my ($name, $re) = $rest =~ /^([^:]+):\s*(.*)$/
            or return "bad hdr step";
        my $h = $c->{headers}{lc $name} // '<absent>';
        return $h =~ /^$re$/ ? undef : "header $name is \"$h\", not /^$re\$/";
    }

    if ($verb eq 'sleep') {
        sleep $rest;
        return undef;
    }

    if ($verb eq 'raw' || $verb eq 'send') {
        my $bytes;

        if ($verb eq 'raw') {
            $bytes = eval { ws_eval($rest) } // return $@;

        } else {
            my ($op, $expr) = split ' ', $rest, 2;
            $op // return 'send needs an opcode';
            $expr //= '';

            while ($expr =~ s/^(fin|rsv|mask|len|split)=(\d+)\s*//
                   || $expr =~ s/^(len16|len64)\b\s*//)
            {
                $opt->{$1} = $2 // 1;
            }

            my $payload = eval { ws_eval($expr) } // return $@;
            $bytes = ws_frame(op => $op, payload => $payload,
                              fin => $opt->{fin}, rsv => $opt->{rsv},
                              mask => $opt->{mask}, len => $opt->{len},
                              len_size => $opt->{len64} ? 64
                                        : $opt->{len16} ? 16 : undef);
        }

        my $split = $opt->{split} || length $bytes;

        # A server may rightly close before it has read everything: a
        # failed write is noted, and the next steps say if it was wrong.
        while (length $bytes) {
            if (!ws_write($c, substr($bytes, 0, $split, ''))) {
                push @$log, "  write failed: $c->{error}";
                last;
            }

            sleep 0.02 if length $bytes;
        }

        return undef;
    }

    if ($verb eq 'recv') {
        my ($op, $expr) = split ' ', $rest, 2;
        my $n = $opt->{n} // 1;

        $t = $1 if defined $expr && $expr =~ s/^t=(\d+(?:\.\d+)?)\s*//;

        for my $i (0 .. $n - 1) {
            $Devmon::Util::Expr::i = $i;
            my $err = ws_recv($c, $op, $expr, $t, $log);
            return $n > 1 ? "frame $i of $n: $err" : $err if defined $err;
        }

        return undef;
    }

    if ($verb eq 'seek') {
        my ($op, $expr) = split ' ', $rest, 2;
        my $deadline = time + $t;

        while (1) {
            my $err = ws_recv($c, $op, $expr, $deadline - time, $log);
            return undef unless defined $err;
            return $err if $err !~ /^payload/ || time >= $deadline;
        }
    }

    if ($verb eq 'gone') {
        my $deadline = time + $t;

        while (1) {
            my $f = ws_read_frame($c, $deadline - time);
            push @$log, "  got: " . show_frame($f);

            return undef if $f->{eof};
            return "connection still open after ${t}s" if $f->{timeout};
            next if $f->{opname} eq 'ping' || $f->{opname} eq 'close';
            return "expected the connection to end, got " . show_frame($f);
        }
    }

    if ($verb eq 'eof') {
        my $deadline = time + $t;

        while (time < $deadline) {
            my $f = ws_read_frame($c, $deadline - time);
            return undef if $f->{eof};
            return "connection still open after ${t}s" if $f->{timeout};
            return "expected EOF, got " . show_frame($f);
        }

        return "connection still open after ${t}s";
    }

    if ($verb eq 'silent') {
        my $f = ws_read_frame($c, $rest);
        return $f->{timeout} ? undef
                             : "expected silence, got " . show_frame($f);
    }

    return "unknown step \"$verb\"";
}


# Receive one frame and check it against OP and EXPR (see ws_run_script).
sub ws_recv {
    my ($c, $op, $expr, $t, $log) = @_;
    my $f = ws_read_frame($c, $t);

    $Devmon::Util::Expr::last = $f->{payload};
    push @$log, "  got: " . show_frame($f);

    return "expected a $op frame, got " . show_frame($f)
        if $f->{eof} || $f->{timeout};
    return "server frame is masked" if $f->{masked};
    return "server frame has RSV bits $f->{rsv}" if $f->{rsv};
    return "expected $op, got " . show_frame($f)
        if $f->{opname} ne $op;
    return "FIN not set on a $op frame" if !$f->{fin};

    if ($op eq 'close') {
        return check_close($f, $expr);
    }

    return undef unless defined $expr && $expr =~ /\S/;

    my $want = eval { ws_eval($expr) };
    return $@ if $@;

    if (ref $want eq 'CODE') {
        my $why = $want->($f->{payload});
        return $why ? "payload " . show($f->{payload}) . ": $why" : undef;
    }

    if (ref $want eq 'Regexp') {
        return $f->{payload} =~ $want
               ? undef : "payload " . show($f->{payload}) . " !~ $want";
    }

    return $f->{payload} eq $want
           ? undef
           : "payload " . show($f->{payload}) . " ne " . show($want);
}


sub check_close {
    my ($f, $expr) = @_;
    my ($code, $reason) = split ' ', $expr // '', 2;

    return undef unless defined $code;

    if ($code eq 'none') {
        return length $f->{payload}
               ? 'close payload not empty: ' . show($f->{payload}) : undef;
    }

    return "close frame without a code" unless defined $f->{code};
    return "close code $f->{code}, expected $code"
        unless grep { $f->{code} == $_ } split /\|/, $code;

    if (length($f->{reason}) && !utf8::decode(my $copy = $f->{reason})) {
        return 'close reason is not valid UTF-8';
    }

    return undef unless defined $reason && $reason =~ /\S/;

    my $want = eval { ws_eval($reason) };
    return $@ if $@;

    return ref $want eq 'Regexp'
           ? ($f->{reason} =~ $want ? undef : "reason !~ $want")
           : ($f->{reason} eq $want ? undef : "reason ne " . show($want));
}


package Devmon::Util::Expr;

# Helpers for script expressions.  $last is the payload of the last frame
# received, $i the index of the frame inside a "recv n=N" step.

use JSON::PP ();

our ($last, $i);

# close frame payload: code + reason
sub close_payload { Devmon::Util::ws_close_payload(@_) }

# the UTF-8 bytes of a Perl string
sub utf8 { my $s = shift; utf8::encode($s); $s }

# a frame as bytes, as ws_frame
sub frame { Devmon::Util::ws_frame(@_) }

# {"type":"ping","id":ID}, padded to exactly LEN bytes when LEN is given
sub ping_msg {
    my ($id, $len) = @_;
    my $msg = '{"type":"ping","id":' . $id . '}';

    return $msg unless defined $len;

    my $pad = $len - length($msg) - length(',"pad":""');
    die "ping_msg: $len bytes is too short\n" if $pad < 0;
    return '{"type":"ping","id":' . $id . ',"pad":"' . ('x' x $pad) . '"}';
}

# a check: the payload is a JSON object with type "pong" and this id
sub pong {
    my $id = shift;

    return sub {
        my $d = eval { JSON::PP::decode_json(shift) };

        return "not a JSON object" unless ref $d eq 'HASH';
        return "type is not \"pong\"" if ($d->{type} // '') ne 'pong';
        return "id is " . ($d->{id} // 'missing') . ", not $id"
            if ($d->{id} // '') ne $id;
        return undef;
    };
}


package Devmon::Util;


# --- python3 ------------------------------------------------------------

# Run /usr/bin/python3 (Debian's, with python3-websockets) on $code.
# %o: args (array), env (hash added to the environment), timeout
# (seconds, default 10; the child is killed after it).  Returns
# (exit status or -1 on timeout, stdout, stderr).
sub run_python {
    my ($code, %o) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $timeout = $o{timeout} // 10;

    write_file("$dir/prog.py", $code);

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        $ENV{$_} = $o{env}{$_} for keys %{ $o{env} // {} };
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/err";
        { exec '/usr/bin/python3', "$dir/prog.py", @{ $o{args} // [] } }
        POSIX::_exit(127);
    }

    my $deadline = time + $timeout;
    my $status = -1;

    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $status = $? >> 8;
            last;
        }

        sleep 0.02;
    }

    if ($status == -1) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }

    return ($status, read_file("$dir/out"), read_file("$dir/err"));
}


# --- python: the program gets DEVMON_WS_URL (ws://127.0.0.1:PORT + the
# block's --- ws_uri, default /ws), after ws_session_setup() DEVMON_TOKEN
# (a valid bearer token), and must exit 0; its stdout must equal
# --- python_out (or match it when that is a qr//) when given.
sub python_check {
    my ($block, $code, $rep) = @_;
    my $name = $block->name;
    my $url = 'ws://127.0.0.1:' . server_port()
              . (section($block, 'ws_uri') // '/ws');
    my ($status, $out, $err) = run_python($code,
        env => { DEVMON_WS_URL => $url,
                 $Session ? (DEVMON_TOKEN => $Session->{token}) : () },
        timeout => section($block, 'python_timeout') // 15);
    my $want = section($block, 'python_out');
    my $ok = $status == 0;

    if ($ok && defined $want) {
        $ok = ref $want eq 'Regexp' ? $out =~ $want : $out eq $want;
    }

    Test::More::ok($ok, "$name - python client (repeat $rep)")
        or Test::More::diag("exit: $status\nstdout:\n$out\nstderr:\n$err"
                            . (defined $want ? "\nexpected stdout:\n$want"
                                             : ''));
}


# --- nginx -t -----------------------------------------------------------

# Check a complete "http { ... }" body with "nginx -t", loading
# TEST_NGINX_LOAD_MODULES, in a private prefix.  Returns (exit status,
# everything nginx printed).
sub nginx_config_test {
    my ($http_body, %o) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $modules = join '', map { "load_module $_;\n" }
                           grep { length }
                           split /\s+/, $ENV{TEST_NGINX_LOAD_MODULES} // '';

    mkdir "$dir/logs";
    write_file("$dir/nginx.conf",
               "${modules}error_log $dir/logs/error.log;\n"
               . "pid $dir/logs/nginx.pid;\n"
               . "events { worker_connections 16; }\n"
               . "http {\n$http_body\n}\n");

    my $cmd = "$nginx -t -p $dir/ -c $dir/nginx.conf"
              . " -e $dir/logs/error.log 2>&1";
    my $out = `$cmd`;
    return ($? >> 8, $out);
}


# --- authenticated sessions ---------------------------------------------

# Since tokens and streams landed, a devmon_ws location must have a key,
# every connection a valid token and a broker, and the server opens each
# session with {"type":"hello",...} then {"type":"snapshot",...} before
# anything else.  A suite testing something else (framing, close codes)
# calls this once, before run_tests():
#
#     my $s = ws_session_setup();
#
# It starts a redis-server on a unix socket in a temp dir (no port to
# collide with other suites), writes a random HS256 key (Devmon::JWT) and
# mints one token (acct and sub "conformance", valid for an hour); then
# for every block:
#   - --- http_config starts with "devmon_redis unix:SOCKET;" and
#     "devmon_jwt_key hs256 FILE;", which every location inherits;
#   - --- ws scripts send the token (see ws_run_script) and consume the
#     preamble (ws_session_preamble) first, so the steps see exactly the
#     frames they are about;
#   - --- python programs get the token in DEVMON_TOKEN.
# Returns { token, key_file, redis }.
sub ws_session_setup {
    my %o = @_;

    die "ws_session_setup: called twice\n" if $Session;

    require Devmon::JWT;

    my $redis = start_redis(unix => 1);
    my $jwt = Devmon::JWT->new;
    my $secret = $jwt->hs_secret('hs256.key', 32);
    my $now = time;
    my $http = "    devmon_redis unix:$redis->{socket};\n"
               . "    devmon_jwt_key hs256 " . $jwt->dir . "/hs256.key;\n";

    $Session = {
        redis => $redis,
        jwt => $jwt,
        key_file => $jwt->dir . '/hs256.key',
        token => $jwt->token(alg => 'HS256', key => $secret,
                             claims => { acct => 'conformance',
                                         sub => 'conformance',
                                         iat => int($now) - 5,
                                         exp => int($now) + 3600 }),
    };

    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;

        $block->set_value('http_config',
                          $http . (section($block, 'http_config') // ''));
    });

    return $Session;
}


# the token of ws_session_setup() (for --- raw_request and the like)
sub ws_session_token {
    die "ws_session_token: no ws_session_setup()\n" unless $Session;
    return $Session->{token};
}


sub session_headers {
    my ($s, $headers) = @_;
    my $list = header_list($headers);

    return $list if grep { lc $_->[0] eq 'authorization' } @$list;
    return [['Authorization', "Bearer $s->{token}"], @$list];
}


# Read the session preamble off a fresh connection: a text frame
# {"type":"hello",...}, then a text frame {"type":"snapshot",...} (no
# resume point was asked for).  A ping the server sends meanwhile is kept
# for the script's own steps (ws_read_frame returns it first).  Returns
# undef, or what was wrong.
sub ws_session_preamble {
    my ($c, $timeout, $log) = @_;
    my $deadline = time + $timeout;
    my @held;

    for my $want (qw(hello snapshot)) {
        while (1) {
            my $f = ws_read_frame($c, $deadline - time);

            push @$log, "  preamble: " . show_frame($f);

            return "no \"$want\" message, got " . show_frame($f)
                if $f->{eof} || $f->{timeout};

            if ($f->{opname} eq 'ping' && $f->{fin} && !$f->{rsv}
                && !$f->{masked})
            {
                push @held, $f;
                next;
            }

            return "expected a text frame {\"type\":\"$want\"}, got "
                   . show_frame($f)
                if $f->{opname} ne 'text' || !$f->{fin} || $f->{rsv}
                   || $f->{masked};

            my $d = eval { JSON::PP::decode_json($f->{payload}) };

            return "expected {\"type\":\"$want\",...}, got "
                   . show($f->{payload})
                if ref $d ne 'HASH' || ($d->{type} // '') ne $want;

            last;
        }
    }

    $c->{held} = \@held;
    return undef;
}


# --- redis-server -------------------------------------------------------

my @Redis;


# Start a private redis-server (no persistence, loopback only) in a temp
# dir.  %o: port (TCP on 127.0.0.1) or unix => 1 (a socket in the temp
# dir).  Sets $ENV{TEST_NGINX_REDIS_PORT} or $ENV{TEST_NGINX_REDIS_SOCKET}
# so configs can use $TEST_NGINX_REDIS_PORT.  Returns a hash: pid, dir,
# port or socket.  Killed at exit (or by stop_redis).  Dies loudly if it
# does not answer PING within 5 seconds.
sub start_redis {
    my %o = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $r = { dir => $dir };
    my @args = ('--save', '', '--appendonly', 'no', '--dir', $dir,
                '--daemonize', 'no', '--logfile', "$dir/redis.log");

    if ($o{unix}) {
        $r->{socket} = "$dir/redis.sock";
        push @args, '--port', '0', '--unixsocket', $r->{socket};

    } else {
        $r->{port} = $o{port} // die "start_redis: port or unix\n";
        push @args, '--port', $r->{port}, '--bind', '127.0.0.1';
    }

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        { exec 'redis-server', @args }
        POSIX::_exit(127);
    }

    $r->{pid} = $pid;
    push @Redis, $r;

    for (1 .. 250) {
        my $pong = eval { redis_cmd($r, 'PING') };
        if (defined $pong && $pong eq 'PONG') {
            if ($r->{port}) {
                $ENV{TEST_NGINX_REDIS_PORT} = $r->{port};
            } else {
                $ENV{TEST_NGINX_REDIS_SOCKET} = $r->{socket};
            }
            return $r;
        }

        die "redis-server exited early: " . read_file("$dir/redis.log")
            if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }

    stop_redis($r);
    die "redis-server did not answer PING: " . read_file("$dir/redis.log");
}


sub stop_redis {
    my $r = shift;

    return unless $r->{pid};

    kill 'TERM', $r->{pid};

    for (1 .. 100) {
        last if waitpid($r->{pid}, WNOHANG) == $r->{pid};
        sleep 0.02;
    }

    if (kill 0, $r->{pid}) {
        kill 'KILL', $r->{pid};
        waitpid $r->{pid}, 0;
    }

    delete $r->{pid};
}


# One command to a redis started by start_redis (or any { port } or
# { socket }); returns the reply (arrays as array refs, errors die).
sub redis_cmd {
    my ($r, @cmd) = @_;
    my $sock = $r->{socket}
        ? IO::Socket::UNIX->new(Peer => $r->{socket})
        : IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                PeerPort => $r->{port}, Timeout => 2);

    die "redis connect: $!\n" unless $sock;

    my $req = '*' . @cmd . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @cmd;
    print $sock $req;

    local $SIG{ALRM} = sub { die "redis reply timeout\n" };
    alarm 5;
    my $reply = eval { redis_reply($sock) };
    my $err = $@;
    alarm 0;
    close $sock;
    die $err if $err;

    return $reply;
}


sub redis_reply {
    my $sock = shift;
    my $line = <$sock> // die "redis: connection closed\n";

    $line =~ s/\r\n$//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));

    return $v if $t eq '+' || $t eq ':';
    die "redis: $v\n" if $t eq '-';

    if ($t eq '$') {
        return undef if $v < 0;
        read($sock, my $data, $v + 2) == $v + 2
            or die "redis: short bulk reply\n";
        return substr $data, 0, $v;
    }

    if ($t eq '*') {
        return undef if $v < 0;
        return [map { redis_reply($sock) } 1 .. $v];
    }

    die "redis: bad reply \"$line\"\n";
}


# --- files --------------------------------------------------------------

sub write_file {
    my ($file, $data) = @_;

    open my $out, '>', $file or die "$file: $!";
    binmode $out;
    print $out $data;
    close $out;
}


sub read_file {
    my $file = shift;

    open my $in, '<', $file or return '';
    binmode $in;
    local $/;
    my $data = <$in>;
    close $in;

    return $data // '';
}


END {
    if ($$ == $OwnerPid) {
        local $?;
        stop_redis($_) for @Redis;
    }
}


1;
