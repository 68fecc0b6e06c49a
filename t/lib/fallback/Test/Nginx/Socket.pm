package Test::Nginx::Socket;

# devmon's own minimal stand-in for the CPAN Test::Nginx::Socket: the same
# block format (Test::Base), sections, exported functions and test counts
# for the subset devmon's suites use.  Written from the documented
# interface of openresty/test-nginx; used only when the real one is not
# installed.  Unsupported sections stop the run (bail out) instead of
# being ignored.

use Test::Base -base;

use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(EAGAIN EINTR);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util;

our $VERSION = '0.01_devmon_fallback';

our @EXPORT = qw(
    env_to_nginx is_str run_tests repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check $ServerPort $ServerAddr $ServerPortForClient
);

our @ResponseBodyChecks;

$Test::Nginx::Util::RunTestHelper = \&run_test_helper;
$Test::Nginx::Util::CheckErrorLog = \&check_error_log;

my @Unsupported = qw(grep_error_log grep_error_log_out access_log
                     no_access_log stap http2 http3 curl
                     response_body_filters tcp_listen udp_listen);


sub add_response_body_check {
    push @ResponseBodyChecks, shift;
}


# Section accessor that works for any name, present or not.
sub section {
    my ($block, $name) = @_;

    return exists $block->{$name} ? $block->$name : undef;
}


sub parse_more_headers {
    my $in = shift // '';
    my ($out, $chunked) = ('', 0);

    for my $line (split /\n+/, $in) {
        next if $line =~ /^\s*#/ || $line !~ /\S/;

        my ($k, $v) = split /:\s*/, $line, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }

    return ($out, $chunked);
}


# "METHOD [URI [VERSION]]\n[body]" -> a full HTTP request
sub build_request {
    my ($name, $req, $more, $conn) = @_;

    $req =~ s/^(?:\s*#[^\n]*\n|\s+)+//s;

    my ($first, $body) = split /\n/, $req, 2;
    my ($meth, $uri, $ver) = split ' ', $first // '';

    bail_out("$name - empty request line") unless defined $meth;

    $uri //= '/';
    $ver //= 'HTTP/1.1';
    $body //= '';

    my ($hdrs, $chunked) = parse_more_headers($more);
    my $out = "$meth $uri $ver\r\n";

    $out .= "Host: $ServerName\r\n" if $hdrs !~ /^Host:/mi;
    $out .= "Connection: $conn\r\n" if $hdrs !~ /^Connection/mi;
    $out .= $hdrs;

    if (!$chunked && length $body && $hdrs !~ /^Content-Length:/mi) {
        $body =~ s/^\s+|\s+$//g;
        $out .= "Content-Length: " . length($body) . "\r\n";
    }

    return "$out\r\n$body";
}


# -> list of requests, each an array of byte chunks written in order
sub requests_of_block {
    my $block = shift;
    my $name = $block->name;
    my $more = $block->more_headers // '';

    my $hdr = sub {
        my $i = shift;
        return $more unless ref $more eq 'ARRAY';
        return $more->[$i] // bail_out("$name - more_headers lacks $i");
    };

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        return ref $raw eq 'ARRAY' ? [@$raw] : [$raw];
    }

    if (defined(my $reqs = $block->pipelined_requests)) {
        bail_out("$name - pipelined_requests must be an array")
            unless ref $reqs eq 'ARRAY';

        my $all = '';
        for my $i (0 .. $#$reqs) {
            $all .= build_request($name, $reqs->[$i], $hdr->($i),
                                  $i == $#$reqs ? 'close' : 'keep-alive');
        }

        return [$all];
    }

    my $req = $block->request;

    bail_out("$name - no --- request") unless defined $req;

    return [build_request($name, $req, $hdr->(0), 'close')]
        unless ref $req;

    bail_out("$name - request must be a string or an array")
        unless ref $req eq 'ARRAY';

    my @list;
    for my $i (0 .. $#$req) {
        bail_out("$name - request packets are not supported by the "
                 . "fallback Test::Nginx") if ref $req->[$i];
        push @list, [build_request($name, $req->[$i], $hdr->($i),
                                   'close')];
    }

    return @list;
}


# Write the chunks, read until the server closes or the timeout.
sub send_request {
    my ($block, $chunks, $timeout) = @_;
    my $name = $block->name;
    my $delay = parse_time($block->raw_request_middle_delay);
    my $sock;

    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        sleep 0.05;
    }

    if (!$sock) {
        fail("$name - cannot connect to $ServerAddr:"
             . "$ServerPortForClient: $!");
        return '';
    }

    $sock->blocking(0);

    my @todo = @$chunks;
    my ($buf, $resp, $sel) = (shift(@todo) // '', '', IO::Select->new($sock));
    my $deadline = time + $timeout;
    my $writing = 1;

    while (1) {
        my $left = $deadline - time;

        if ($left <= 0) {
            close $sock;
            fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            return $resp;
        }

        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef,
                                         undef, $left);

        if ($w && @$w) {
            my $n = syswrite($sock, $buf);

            if (!defined $n && $! != EAGAIN && $! != EINTR) {
                $writing = 0;

            } elsif (defined $n) {
                substr($buf, 0, $n, '');
            }

            if ($writing && $buf eq '') {
                if (@todo) {
                    sleep $delay if $delay;
                    $buf = shift @todo;

                } else {
                    $writing = 0;
                    shutdown($sock, $block->shutdown || 1)
                        if defined $block->shutdown;
                }
            }
        }

        if ($r && @$r) {
            my $n = sysread($sock, my $data, 65536);

            next if !defined $n && ($! == EAGAIN || $! == EINTR);

            if (!$n) {
                close $sock;
                return $resp;
            }

            $resp .= $data;
        }
    }
}


# One response off the front of $raw -> (res, raw_headers, leftover)
sub parse_response {
    my ($name, $raw) = @_;
    my $res = { code => '', headers => [], content => '' };

    return ($res, '', '') unless $raw =~ /^(.*?\r\n)\r\n/s;

    my $raw_headers = $1;
    my $rest = substr $raw, length($raw_headers) + 2;
    my ($status, @lines) = split /\r\n/, $raw_headers;

    $res->{code} = $1 if $status =~ m{^HTTP/\S+\s+(\d+)};

    for (@lines) {
        push @{ $res->{headers} }, [lc $1, $2] if /^([^:]+):\s*(.*)$/;
    }

    my $te = header_of($res, 'Transfer-Encoding');
    my $len = header_of($res, 'Content-Length');

    if ($res->{code} eq '101' || $res->{code} eq '304') {
        $res->{content} = $rest;
        return ($res, $raw_headers, '');
    }

    if (defined $te && $te eq 'chunked') {
        my $body = '';

        while ($rest =~ s/^[ \t]*([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $size = hex $1;

            if ($size == 0) {
                $rest =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
                last;
            }

            if (length $rest < $size + 2) {
                fail("$name - truncated chunked response body");
                last;
            }

            $body .= substr $rest, 0, $size;
            substr($rest, 0, $size + 2, '');
        }

        $res->{content} = $body;
        return ($res, $raw_headers, $rest);
    }

    if (defined $len && $len =~ /^\d+$/ && length $rest > $len) {
        $res->{content} = substr $rest, 0, $len;
        return ($res, $raw_headers, substr($rest, $len));
    }

    $res->{content} = $rest;
    return ($res, $raw_headers, '');
}


sub header_of {
    my ($res, $key) = @_;
    my @v = map { $_->[1] } grep { $_->[0] eq lc $key } @{ $res->{headers} };

    return @v ? join(', ', @v) : undef;
}


# For sections that hold one value per request when a block sends several.
sub indexed {
    my ($name, $value, $idx, $need_array) = @_;

    if (ref $value eq 'ARRAY') {
        return $value->[$idx];
    }

    bail_out("$name - several requests: expected results must be arrays")
        if $need_array;

    return $value;
}


sub check_response {
    my ($block, $res, $raw_headers, $idx, $rep, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->error_code_like) {
        my $v = indexed($name, $block->error_code_like, $idx, $need_array);
        like($res->{code}, qr/$v/sm, "$name - status code ok");

    } elsif (defined $block->error_code) {
        is($res->{code}, indexed($name, $block->error_code, $idx,
                                 $need_array), "$name - status code ok");

    } else {
        is($res->{code}, 200, "$name - status code ok");
    }

    if (defined $block->raw_response_headers_like) {
        my $v = indexed($name, $block->raw_response_headers_like, $idx,
                        $need_array);
        like($raw_headers, qr/$v/s, "$name - raw resp headers like");
    }

    if (defined $block->raw_response_headers_unlike) {
        my $v = indexed($name, $block->raw_response_headers_unlike, $idx,
                        $need_array);
        unlike($raw_headers, qr/$v/s, "$name - raw resp headers unlike");
    }

    if (defined $block->response_headers) {
        my $h = parse_headers(indexed($name, $block->response_headers,
                                      $idx, $need_array));

        for my $k (sort keys %$h) {
            if (!defined $h->{$k}) {
                unlike($raw_headers, qr/^\s*\Q$k\E\s*:/msi,
                       "$name - header $k not present in the raw headers");
                next;
            }

            (my $v = $h->{$k}) =~ s/\$ServerPort\b/$ServerPort/g;
            is(header_of($res, $k) // '', $v, "$name - header $k ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(indexed($name, $block->response_headers_like,
                                      $idx, $need_array));

        for my $k (sort keys %$h) {
            like(header_of($res, $k) // '', qr/^$h->{$k}$/,
                 "$name - header $k like ok");
        }
    }

    my $content = $res->{content};

    if (defined $block->response_body) {
        my $exp = indexed($name, $block->response_body, $idx, $need_array);

        if (ref $exp) {
            like($content, $exp, "$name - response_body - like "
                                 . "(repeated req $rep, req $idx)");

        } else {
            $exp =~ s/\$ServerPort\b/$ServerPort/g if defined $exp;
            is($content, $exp, "$name - response_body - response is "
                               . "expected (repeated req $rep, req $idx)");
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $pat = indexed($name, $like ? $block->response_body_like
                                        : $block->response_body_unlike,
                          $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;

        my $type = $like ? 'like' : 'unlike';
        my $desc = "$name - response_body_$type - response is expected ("
                   . (trim($content) // '') . ")";

        $like ? like($content, qr/$pat/s, $desc)
              : unlike($content, qr/$pat/s, $desc);
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep, 0);
    }
}


sub run_test_helper {
    my ($block, $dry_run, $rep) = @_;
    my $name = $block->name;

    for my $s (@Unsupported) {
        bail_out("$name - --- $s is not supported by the fallback "
                 . "Test::Nginx (install the real one from CPAN)")
            if exists $block->{$s};
    }

    my @reqs = requests_of_block($block);
    my $timeout = parse_time($block->timeout) // timeout();
    my $pipelined = $block->pipelined_requests;
    my $need_array = $pipelined ? 1 : @reqs > 1;
    my $idx = 0;

    for my $i (0 .. $#reqs) {
        my $raw = send_request($block, $reqs[$i], $timeout);
        my $n = $pipelined ? scalar @$pipelined : 1;

        while ($n-- > 0) {
            my ($res, $raw_headers, $left) = parse_response($name, $raw);

            if (!defined $block->ignore_response) {
                check_response($block, $res, $raw_headers, $idx, $rep,
                               $need_array);
            }

            $raw = $left;
            $idx++;
        }

        if ($i < $#reqs) {
            sleep parse_time($block->wait) if $block->wait;
            check_error_log($block, undef, 0, $rep, $need_array);
        }
    }

    sleep parse_time($block->wait) if $block->wait;
    check_error_log($block, undef, 0, $rep, $need_array);
}


sub check_error_log {
    my ($block, $res, $dry_run, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines = Test::Nginx::Util::error_log_data();
    my %quiet;

    for my $kind (qw(error_log no_error_log)) {
        my $pats = $block->$kind;
        next unless defined $pats;

        $pats = Test::Nginx::Util::pattern_list($pats);

        for my $lvl (qw(alert crit emerg)) {
            $quiet{$lvl} = 1 if grep { !ref && /\Q[$lvl\E/ } @$pats;
        }

        for my $pat (@$pats) {
            my @hits = grep { Test::Nginx::Util::match_line($_, $pat) }
                       @$lines;

            if ($kind eq 'error_log') {
                ok(scalar @hits, "$name - pattern \"$pat\" "
                   . (@hits ? "matches" : "should match")
                   . " a line in error.log (req $rep)");
                next;
            }

            if (!@hits) {
                pass("$name - pattern \"$pat\" does not match a line in "
                     . "error.log (req $rep)");
                next;
            }

            for my $line (@hits) {
                chomp(my $l = $line);
                fail("$name - pattern \"$pat\" should not match any line "
                     . "in error.log but matches line \"$l\" (req $rep)");
            }
        }
    }

    for my $line (@$lines) {
        for my $lvl (qw(alert crit emerg)) {
            warn "WARNING: $name - $line" if !$quiet{$lvl}
                                             && $line =~ /\[$lvl\]/;
        }

        fail("$name - $line") if $line =~ /\bAssertion .*?failed\b/;
    }
}


1;
