package Devmon::Pkg;

# Helpers for t/900-packaging.t: command runner, config rendering by
# substitution, unit file parsing, a test PKI and RS256 tokens made with
# openssl, a TLS WebSocket client, and process / wait helpers.  No
# Test::Nginx: the packaging test drives the machine's own nginx.

use strict;
use warnings;

use base 'Exporter';

use Digest::SHA qw(sha1);
use File::Find ();
use File::Path qw(make_path);
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::SSL ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    run render unit_settings make_pki jwt_rs256 b64url
    wss_open ws_next_text wait_until spawn stop_pid read_file write_file
    tree_state tree_diff https_get
);

my $WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';


# (exit status, stdout+stderr) of a command given as a list, no shell
sub run {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        { exec @cmd }
        print "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;

    return ($? >> 8, $out);
}


sub read_file {
    my $f = shift;

    open my $fh, '<', $f or die "open $f: $!\n";
    local $/;
    return scalar <$fh>;
}


sub write_file {
    my ($f, $text, $mode) = @_;

    open my $fh, '>', $f or die "open $f: $!\n";
    print $fh $text;
    close $fh or die "close $f: $!\n";
    chmod $mode, $f if defined $mode;
}


# Renders a config from its example: every rule is [name, regex, text] and
# must match at least once, so an edit to the example that the test no
# longer understands fails here instead of testing something else.
sub render {
    my ($src, $dst, @rules) = @_;
    my $text = read_file($src);
    my @missed;

    for my $r (@rules) {
        my ($name, $re, $to) = @$r;
        my $n = ($text =~ s/$re/$to/gm);
        push @missed, $name unless $n;
    }

    die "render $src: no match for: @missed\n" if @missed;

    write_file($dst, $text);
    return $text;
}


# [Service]/[Unit]/[Install] keys of a unit file: key => [values]
sub unit_settings {
    my $file = shift;
    my %s;

    for my $line (split /\n/, read_file($file)) {
        next if $line =~ /^\s*(?:[#;]|\[|$)/;
        my ($k, $v) = $line =~ /^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/
            or die "unit $file: cannot parse: $line\n";
        push @{ $s{$k} }, $v;
    }

    return \%s;
}


sub openssl {
    my ($rc, $out) = run('openssl', @_);
    die "openssl @_[0 .. 1]: $out" if $rc;
    return $out;
}


# A CA, a server certificate per name (key "<dir>/<name>.key", chain
# "<dir>/<name>.pem"), and an RSA key pair for tokens.
sub make_pki {
    my ($dir, %names) = @_;

    make_path($dir);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=devmon test CA', '-keyout', "$dir/ca.key",
            '-out', "$dir/ca.pem");

    for my $name (sort keys %names) {
        my $san = join ',', map { "DNS:$_" } @{ $names{$name} };

        openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj',
                "/CN=$names{$name}[0]", '-keyout', "$dir/$name.key",
                '-out', "$dir/$name.csr");
        write_file("$dir/$name.ext", "subjectAltName=$san\n"
                   . "extendedKeyUsage=serverAuth\n");
        openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA',
                "$dir/ca.pem", '-CAkey', "$dir/ca.key", '-CAcreateserial',
                '-days', '2', '-extfile', "$dir/$name.ext",
                '-out', "$dir/$name.pem");
    }

    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt',
            'rsa_keygen_bits:2048', '-out', "$dir/jwt.key");
    openssl('pkey', '-in', "$dir/jwt.key", '-pubout', '-out',
            "$dir/jwt-public.pem");
}


sub b64url {
    my $s = encode_base64(shift, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}


sub jwt_rs256 {
    my ($keyfile, $claims, $dir) = @_;
    my $json = JSON::PP->new->canonical;
    my $input = b64url($json->encode({ alg => 'RS256', typ => 'JWT' }))
                . '.' . b64url($json->encode($claims));

    write_file("$dir/jwt.input", $input);
    openssl('dgst', '-sha256', '-sign', $keyfile, '-out', "$dir/jwt.sig",
            "$dir/jwt.input");

    my $sig = read_file("$dir/jwt.sig");
    unlink "$dir/jwt.input", "$dir/jwt.sig";

    return "$input." . b64url($sig);
}


# Opens wss://<sni><path> on 127.0.0.1:<port>; returns (socket, status
# code, response head).  Dies on TLS or handshake failure.
sub wss_open {
    my %o = @_;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');

    my $s = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1', PeerPort => $o{port},
        SSL_hostname => $o{sni}, SSL_verifycn_name => $o{sni},
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_verifycn_scheme => 'http', SSL_ca_file => $o{ca},
        Timeout => 5)
        or die "TLS connect 127.0.0.1:$o{port}: $IO::Socket::SSL::SSL_ERROR"
               . " $!\n";

    my $req = "GET $o{path} HTTP/1.1\r\nHost: $o{sni}\r\n"
              . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
              . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n";
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    print $s "$req\r\n";

    my $head = '';
    my $deadline = time + 10;

    while ($head !~ /\r\n\r\n/ && time < $deadline) {
        my $n = sysread($s, my $buf, 1);
        last unless $n;
        $head .= $buf;
    }

    my ($code) = $head =~ m{^HTTP/1\.1 (\d{3})};
    die "no HTTP answer from 127.0.0.1:$o{port}: '$head'\n"
        unless defined $code;

    if ($code == 101) {
        my $want = encode_base64(sha1($key . $WS_GUID), '');
        my ($acc) = $head =~ /^Sec-WebSocket-Accept:\s*(\S+)/mi;
        die "bad Sec-WebSocket-Accept\n" unless ($acc // '') eq $want;
    }

    return ($s, $code, $head);
}


# One HTTPS request to 127.0.0.1:<port> with SNI <sni>; returns (status
# code, head, body), or dies.
sub https_get {
    my %o = @_;

    my $s = IO::Socket::SSL->new(
        PeerAddr => '127.0.0.1', PeerPort => $o{port},
        SSL_hostname => $o{sni}, SSL_verifycn_name => $o{sni},
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_verifycn_scheme => 'http', SSL_ca_file => $o{ca},
        Timeout => 5)
        or die "TLS connect 127.0.0.1:$o{port}: $IO::Socket::SSL::SSL_ERROR"
               . " $!\n";

    my $req = "GET $o{path} HTTP/1.1\r\nHost: $o{sni}\r\n"
              . "Connection: close\r\n";
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    print $s "$req\r\n";

    my $all = '';
    my $buf = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $chunk = read_n($s, 1, $deadline, \$buf) // last;
        $all .= $chunk;
    }
    close $s;

    my ($head, $body) = split /\r\n\r\n/, $all, 2;
    my ($code) = ($head // '') =~ m{^HTTP/1\.1 (\d{3})};
    die "no HTTP answer from 127.0.0.1:$o{port}\n" unless defined $code;

    if (($head =~ /^Transfer-Encoding:\s*chunked/mi)) {
        my $plain = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $plain .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $plain;
    }

    return ($code, $head, $body // '');
}


sub ws_send {
    my ($s, $op, $payload) = @_;
    my $len = length $payload;
    my $mask = join '', map { chr int rand 256 } 1 .. 4;
    my $hdr = chr(0x80 | $op);

    $hdr .= $len < 126   ? chr(0x80 | $len)
          : $len < 65536 ? chr(0x80 | 126) . pack('n', $len)
          :                chr(0x80 | 127) . pack('Q>', $len);

    my $masked = $payload ^ substr($mask x (int($len / 4) + 1), 0, $len);
    print $s $hdr . $mask . $masked;
}


# Exact n bytes before the deadline, or undef.  IO::Socket::SSL buffers
# whole records: check pending() before select().
sub read_n {
    my ($s, $n, $deadline, $buf) = @_;
    my $sel = IO::Select->new($s);

    while (length $$buf < $n) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $s->pending || $sel->can_read($left);
        my $r = sysread($s, my $chunk, 65536);
        return undef unless $r;
        $$buf .= $chunk;
    }

    return substr($$buf, 0, $n, '');
}


# Next text message before the deadline; answers pings, returns undef on
# close or timeout (with the reason in $@).
sub ws_next_text {
    my ($s, $deadline, $buf) = @_;

    for (;;) {
        my $h = read_n($s, 2, $deadline, $buf);
        $@ = 'timeout or EOF', return undef unless defined $h;

        my ($b0, $b1) = unpack 'CC', $h;
        my $op = $b0 & 0x0f;
        my $len = $b1 & 0x7f;

        if ($len == 126) {
            $len = unpack 'n', read_n($s, 2, $deadline, $buf) // return;
        } elsif ($len == 127) {
            $len = unpack 'Q>', read_n($s, 8, $deadline, $buf) // return;
        }

        my $p = $len ? read_n($s, $len, $deadline, $buf) : '';
        $@ = 'short frame', return undef unless defined $p;

        return $p if $op == 1;
        ws_send($s, 10, $p) if $op == 9;

        if ($op == 8) {
            my $code = length $p >= 2 ? unpack('n', $p) : 'none';
            $@ = "server closed ($code): " . substr($p, 2);
            return undef;
        }
    }
}


# path => "mode uid gid content-digest-or-link-target" for a tree; times
# are left out, a directory's changes when an entry comes and goes
sub tree_state {
    my $top = shift;
    my %t;

    File::Find::find({ no_chdir => 1, wanted => sub {
        my @st = lstat $_ or return;
        my $what = -l _ ? 'link ' . readlink($_)
                 : -f _ ? 'file ' . Digest::SHA->new(256)->addfile($_)
                                                         ->hexdigest
                 : -d _ ? 'dir'
                 :        'other';
        $t{$_} = sprintf '%o %d %d %s', $st[2], $st[4], $st[5], $what;
    } }, $top);

    return \%t;
}


# paths that differ between two tree_state()s
sub tree_diff {
    my ($a, $b) = @_;
    my %all = (%$a, %$b);

    return sort grep { ($a->{$_} // '') ne ($b->{$_} // '') } keys %all;
}


# Polls cond every 50 ms up to timeout seconds; true if it held.
sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;

    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }

    return $cond->() ? 1 : 0;
}


# fork + exec with stdout/stderr to a log file and extra environment
sub spawn {
    my ($log, $env, @cmd) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        $ENV{$_} = $env->{$_} for keys %$env;
        { exec @cmd }
        print "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    return $pid;
}


# TERM, then KILL after 5 s; reaps our own children
sub stop_pid {
    my $pid = shift;

    return unless $pid && kill 0, $pid;

    kill 'TERM', $pid;
    return if wait_until(5, sub {
        waitpid($pid, WNOHANG);
        !kill 0, $pid;
    });

    kill 'KILL', $pid;
    waitpid($pid, 0);
}


1;
