# No token in access.log or error.log, whoever answers the handshake: the
# protocol refusals that come before the token check (426, 400, 403
# origin), nginx's own refusals from earlier phases
# (limit_req 429, deny 403), the token check (401), the user cap (429),
# a refused snapshot method (405) and an opened connection (101).  The
# default "combined" access log prints the request line, so a token left
# in the URI or in a header buffer would show up there.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;
use Time::HiRes qw(sleep);

# the streams part needs its broker for every connection
our $REDIS = start_redis(unix => 1);

END { stop_redis($REDIS) if $REDIS }

our ($K, %T, @HELD);

$K = Devmon::JWT->new;
$ENV{TEST_NGINX_DEVMON_KEYS} = $K->dir;

my $hs = $K->hs_secret('hs256.key', 32);

# one token per block, so that a leak names the path that leaked it
for my $n (qw(up426 origin key400 bad401 cap429 limit429 deny403 snap405
              open101 proto101 hdr101))
{
    $T{$n} = $K->token(alg => 'HS256',
                       key => $n eq 'bad401' ? 'y' x 32 : $hs,
                       claims => { sub => $n eq 'cap429' ? 'capped' : $n,
                                   acct => 'acme', exp => time + 3600 });
}


# the upgrade request headers
sub up {
    my %o = @_;

    return "Upgrade: websocket\nConnection: Upgrade, close\n"
           . "Sec-WebSocket-Key: " . ($o{key} // 'dGhlIHNhbXBsZSBub25jZQ==')
           . "\nSec-WebSocket-Version: 13\n"
           . ($o{more} // '');
}


# keeps one connection of the capped user open for the next request
sub hold_capped {
    close $_->{sock} for grep { $_->{sock} } @HELD;
    @HELD = ();

    my $c = ws_connect(uri => '/ws',
                       headers => "Authorization: Bearer $T{cap429}");

    die "holding connection: " . ($c->{error} // $c->{status}) . "\n"
        if $c->{status} != 101;

    push @HELD, $c;
}


# uses up the limit_req budget of the next request's location
sub spend_limit {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => Devmon::Util::server_port(),
                                  Proto => 'tcp', Timeout => 3)
        or die "connect: $!\n";

    print $s "GET /ws-limited HTTP/1.0\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;

    die "limit_req budget: got $resp\n" unless $resp =~ m{^HTTP/1\.\d 426 };
}


sub slurp {
    my $f = shift;

    open my $in, '<', $f or return '';
    local $/;
    my $s = <$in>;
    close $in;

    return $s // '';
}


# --- access_log_like: the request must be logged (a check of an empty
# log would prove nothing); then no fragment of any token may be in
# access.log or error.log
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;

    return if $req_idx != 0 || $dry_run || !exists $block->{access_log_like};

    my $name = $block->name;
    my $want = $block->access_log_like;
    my $logs = server_root() . '/logs';
    my ($access, $error) = ('', '');

    $want =~ s/\s+$//;

    # the access log line of a WebSocket is written when it closes
    for (1 .. 30) {
        $access = slurp("$logs/access.log");
        last if $access =~ /$want/;
        sleep 0.1;
    }

    $error = slurp("$logs/error.log");

    my @leaks = grep { index($access . $error, $_) >= 0 }
                map { Devmon::JWT::fragments($_) } values %T;

    Test::More::ok($access =~ /$want/ && !@leaks,
                   "$name - logged, and no token in access.log or "
                   . "error.log")
        or Test::More::diag("want /$want/ in:\n$access\nleaked: @leaks");
});


repeat_each(1);
no_shuffle();
log_level('info');

# before blocks(): TEST 11's --- config eval uses it
my $keys = '$TEST_NGINX_DEVMON_KEYS';

our $config = <<"_EOC_";
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        devmon_allow_origin https://ok.test;
        devmon_user_limit 1;
        devmon_close_timeout 200ms;
    }

    location = /ws-arg {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        devmon_token_arg on;
    }

    location = /ws-deny {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        deny all;
    }

    location = /ws-limited {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        limit_req zone=devmon_test;
        limit_req_status 429;
    }

    location = /snapshot {
        devmon_snapshot;
        devmon_jwt_key hs256 $keys/hs256.key;
        devmon_token_arg on;
    }
_EOC_

my $tests = 0;

for my $b (blocks()) {
    my $count = sub {
        my $v = $b->{$_[0]} ? $b->${\ $_[0]} : undef;
        return 0 unless defined $v;
        return scalar @$v if ref $v eq 'ARRAY';
        return scalar grep { /\S/ } split /\n/, $v;
    };

    $tests += 1 + ($b->{ws} ? 1 : 0) + ($b->{access_log_like} ? 1 : 0)
              + $count->('error_log') + $count->('no_error_log') + 1;
}

plan tests => $tests;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                      . "limit_req_zone \$binary_remote_addr "
                      . "zone=devmon_test:1m rate=1r/m;\n"
                      . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: 426 (no Upgrade) with the token in the URI and in Authorization
--- request eval
"GET /ws?access_token=$::T{up426}"
--- more_headers eval
"Authorization: Bearer $::T{up426}"
--- error_code: 426
--- access_log_like: "GET /ws\?access_token=\*{20,} HTTP/1.1" 426
--- no_error_log
[error]



=== TEST 2: 403 for a bad Origin, token in the URI, subprotocol, header
--- request eval
"GET /ws?x=1&access_token=$::T{origin}&y=2"
--- more_headers eval
::up(more => "Origin: https://evil.test\n"
             . "Sec-WebSocket-Protocol: devmon.v1, bearer.$::T{origin}\n"
             . "Authorization: Bearer $::T{origin}\n")
--- error_code: 403
--- access_log_like: "GET /ws\?x=1&access_token=\*{20,}&y=2 HTTP/1.1" 403
--- no_error_log
[error]



=== TEST 3: 400 for a bad key, token in the subprotocol and in the URI
--- request eval
"GET /ws?access_token=$::T{key400}"
--- more_headers eval
::up(key => 'short',
     more => "Sec-WebSocket-Protocol: devmon.v1, bearer.$::T{key400}\n")
--- error_code: 400
--- access_log_like: "GET /ws\?access_token=\*{20,} HTTP/1.1" 400
--- no_error_log
[error]



=== TEST 4: 401 for a bad signature
--- request eval
"GET /ws?access_token=$::T{bad401}"
--- more_headers eval
::up(more => "Authorization: Bearer $::T{bad401}\n")
--- error_code: 401
--- access_log_like: "GET /ws\?access_token=\*{20,} HTTP/1.1" 401
--- no_error_log
[error]



=== TEST 5: 429 at the user cap, token in the subprotocol and in the URI
--- init
::hold_capped();
--- request eval
"GET /ws?access_token=$::T{cap429}"
--- more_headers eval
::up(more => "Sec-WebSocket-Protocol: devmon.v1, bearer.$::T{cap429}\n")
--- error_code: 429
--- access_log_like: "GET /ws\?access_token=\*{20,} HTTP/1.1" 429
--- no_error_log
[error]



=== TEST 6: 429 from limit_req (PREACCESS), before the module's handler
--- init
::spend_limit();
--- request eval
"GET /ws-limited?access_token=$::T{limit429}"
--- more_headers eval
::up(more => "Authorization: Bearer $::T{limit429}\n")
--- error_code: 429
--- access_log_like: "GET /ws-limited\?access_token=\*{20,} HTTP/1.1" 429
--- error_log
limiting requests



=== TEST 7: 403 from deny (ACCESS), before the module's handler
--- request eval
"GET /ws-deny?access_token=$::T{deny403}"
--- more_headers eval
::up(more => "Authorization: Bearer $::T{deny403}\n")
--- error_code: 403
--- access_log_like: "GET /ws-deny\?access_token=\*{20,} HTTP/1.1" 403
--- error_log
access forbidden by rule



=== TEST 8: 405 for a snapshot POST, before its token check
--- request eval
"POST /snapshot?access_token=$::T{snap405}"
--- more_headers eval
"Authorization: Bearer $::T{snap405}"
--- error_code: 405
--- access_log_like: "POST /snapshot\?access_token=\*{20,} HTTP/1.1" 405
--- no_error_log
[error]



=== TEST 9: 101 with the token in the URI: the closed connection's log
--- ws_uri eval
"/ws-arg?access_token=$::T{open101}"
--- ws
send text ping_msg(9)
seek text pong(9)
--- access_log_like: "GET /ws-arg\?access_token=\*{20,} HTTP/1.1" 101
--- no_error_log
[error]



=== TEST 10: 101 with the token in the subprotocol list
--- ws_uri: /ws-arg?p=1
--- ws_headers eval
"Sec-WebSocket-Protocol: devmon.v1, bearer.$::T{proto101}"
--- ws
send text ping_msg(10)
seek text pong(10)
--- access_log_like: "GET /ws-arg\?p=1 HTTP/1.1" 101
--- no_error_log
[error]



=== TEST 11: 101 with the token in Authorization, logged as $http_authorization
--- http_config
log_format devmon_auth '$request $status auth=[$http_authorization]';
--- config eval
$::config =~ s/location = \/ws \{/location = \/ws {\n        access_log logs\/access.log devmon_auth;/r
--- ws_uri: /ws?h=1
--- ws_headers eval
"Authorization: Bearer $::T{hdr101}"
--- ws
send text ping_msg(11)
seek text pong(11)
--- access_log_like: GET /ws\?h=1 HTTP/1.1 101 auth=\[Bearer \*{20,}\]
--- no_error_log
[error]
