# Bearer tokens at the WebSocket handshake: which tokens open a connection
# (HS256, RS256, ES256, JWKS by kid; header, subprotocol, argument) and
# how every bad one is refused (401, WWW-Authenticate, JSON reason), with
# no token text in the error log.  Keys and tokens are made by the test.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;

# the streams part needs its broker for every connection
our $REDIS = start_redis(unix => 1);

END { stop_redis($REDIS) if $REDIS }

our (%T, $K);

$K = Devmon::JWT->new;
$ENV{TEST_NGINX_DEVMON_KEYS} = $K->dir;

my $hs = $K->hs_secret('hs256.key', 32);
my $rsa = $K->rsa_key('rsa');
my $ec = $K->ec_key('ec', 'P-256');
my $rsa2 = $K->rsa_key('rsa2');
my $ec384 = $K->ec_key('ec384', 'P-384');
$K->jwks('jwks.json', [$rsa2, 'r2'], [$ec384, 'e2']);

my $now = time;
my %good = (sub => 'alice', acct => 'acme', iss => 'https://idp.test',
            aud => ['other', 'devmon'], iat => $now - 5, exp => $now + 600);
my $tok = sub { my %o = @_; $K->token(%o,
                                      claims => { %good, %{$o{c} // {}} }) };

%T = (
    hs256 => $tok->(alg => 'HS256', key => $hs),
    rs256 => $tok->(alg => 'RS256', key => $rsa),
    es256 => $tok->(alg => 'ES256', key => $ec),
    jwks_rs => $tok->(alg => 'RS256', key => $rsa2, kid => 'r2'),
    jwks_es => $tok->(alg => 'ES384', key => $ec384, kid => 'e2'),
    sub => $tok->(alg => 'ES256', key => $ec, c => { sub => 'bob' }),
    arg => $tok->(alg => 'HS256', key => $hs, c => { sub => 'carol' }),
    arg_off => $tok->(alg => 'HS256', key => $hs, c => { sub => 'dave' }),
    expired => $tok->(alg => 'HS256', key => $hs,
                      c => { iat => $now - 100, exp => $now - 30 }),
    nbf => $tok->(alg => 'RS256', key => $rsa, c => { nbf => $now + 300 }),
    iat => $tok->(alg => 'HS256', key => $hs, c => { iat => $now + 300 }),
    badsig => $tok->(alg => 'HS256', key => "x" x 32),
    none => $tok->(alg => 'none', key => undef),
    forged => $tok->(alg => 'HS256', key => $rsa->{pem}),
    issuer => $tok->(alg => 'ES256', key => $ec,
                     c => { iss => 'https://evil.test' }),
    audience => $tok->(alg => 'ES256', key => $ec, c => { aud => 'other' }),
    noacct => $K->token(alg => 'HS256', key => $hs,
                        claims => { sub => 'alice', exp => $now + 600,
                                    iss => 'https://idp.test',
                                    aud => 'devmon' }),
    unknown_kid => $tok->(alg => 'RS256', key => $rsa2, kid => 'r9'),
    wrong_kid => $tok->(alg => 'ES384', key => $ec384, kid => 'zz'),
    big => $tok->(alg => 'HS256', key => $hs, c => { pad => 'x' x 9000 }),
);

die "oversized token is only " . length($T{big}) . " bytes\n"
    if length $T{big} <= 8192;


# the upgrade request headers, with an Authorization header if $t
sub up {
    my $t = shift;

    return "Upgrade: websocket\nConnection: Upgrade, close\n"
           . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
           . "Sec-WebSocket-Version: 13\n"
           . (defined $t ? "Authorization: Bearer $t\n" : '');
}


# no_error_log patterns: [error], and any piece of any token above
sub clean {
    my $any = join '|', map { quotemeta } map { Devmon::JWT::fragments($_) }
              values %T;

    return ['[error]', qr/$any/];
}


sub challenge {
    return "WWW-Authenticate: Bearer realm=\"devmon\", "
           . "error=\"invalid_token\", error_description=\"$_[0]\"";
}


repeat_each(1);
no_shuffle();
log_level('info');

my $tests = 0;

for my $b (blocks()) {
    my $count = sub {
        my $v = $b->{$_[0]} ? $b->${\ $_[0]} : undef;
        return 0 unless defined $v;
        return scalar @$v if ref $v eq 'ARRAY';
        return scalar grep { /\S/ } split /\n/, $v;
    };

    $tests += 1 + ($b->{ws} ? 1 : 0) + ($b->{response_body_like} ? 1 : 0)
              + $count->('response_headers') + $count->('error_log')
              + $count->('no_error_log') + 1;
}

plan tests => $tests;

my $keys = '$TEST_NGINX_DEVMON_KEYS';

our $config = <<"_EOC_";
    large_client_header_buffers 4 32k;

    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        devmon_jwt_key rsa $keys/rsa.pub;
        devmon_jwt_key ec $keys/ec.pub kid=ec1;
        devmon_jwt_jwks $keys/jwks.json;
        devmon_jwt_issuer https://idp.test;
        devmon_jwt_audience devmon;
    }

    location = /ws-arg {
        devmon_ws;
        devmon_jwt_key hs256 $keys/hs256.key;
        devmon_token_arg on;
    }

    location = /ws-rsa {
        devmon_ws;
        devmon_jwt_key rsa $keys/rsa.pub;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                                     . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: HS256 token in Authorization opens the connection
--- ws_headers eval
"Authorization: Bearer $::T{hs256}"
--- ws
send text ping_msg(1)
seek text pong(1)
--- no_error_log eval
::clean()



=== TEST 2: RS256 token (PEM public key) opens the connection
--- ws_headers eval
"Authorization: Bearer $::T{rs256}"
--- ws
send text ping_msg(2)
seek text pong(2)
--- no_error_log eval
::clean()



=== TEST 3: ES256 token (EC P-256 PEM key; its kid does not matter) opens
--- ws_headers eval
"Authorization: Bearer $::T{es256}"
--- ws
send text ping_msg(3)
seek text pong(3)
--- no_error_log eval
::clean()



=== TEST 4: RS256 token of a JWKS key, selected by kid
--- ws_headers eval
"Authorization: Bearer $::T{jwks_rs}"
--- ws
send text ping_msg(4)
seek text pong(4)
--- no_error_log eval
::clean()



=== TEST 5: ES384 token of a JWKS key, selected by kid
--- ws_headers eval
"Authorization: Bearer $::T{jwks_es}"
--- ws
send text ping_msg(5)
seek text pong(5)
--- no_error_log eval
::clean()



=== TEST 6: token in the subprotocol list; the answer names devmon.v1 only
--- ws_headers eval
"Sec-WebSocket-Protocol: devmon.v1, bearer.$::T{sub}"
--- ws
hdr Sec-WebSocket-Protocol: devmon\.v1
send text ping_msg(6)
seek text pong(6)
--- no_error_log eval
::clean()



=== TEST 7: access_token argument where devmon_token_arg is on
--- ws_uri eval
"/ws-arg?access_token=$::T{arg}"
--- ws
send text ping_msg(7)
seek text pong(7)
--- no_error_log eval
::clean()



=== TEST 8: access_token where it is off: 401 missing, and blanked in logs
--- request eval
"GET /ws?x=1&access_token=$::T{arg_off}"
--- more_headers eval
::up()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="devmon"
--- response_body_like: ^\{"error":"missing","message":"[^"]+"\}$
--- error_log eval
[qr/token refused \(none\): missing.*GET \/ws\?x=1&access_token=\*{20,} /]
--- no_error_log eval
::clean()



=== TEST 9: no token at all: 401 with a bare Bearer challenge (RFC 6750)
--- request
GET /ws
--- more_headers eval
::up()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="devmon"
--- response_body_like: ^\{"error":"missing","message":"[^"]+"\}$
--- no_error_log eval
::clean()



=== TEST 10: Basic credentials are not a bearer token
--- request
GET /ws
--- more_headers eval
::up() . "Authorization: Basic YWxpY2U6c2VjcmV0\n"
--- error_code: 401
--- response_body_like: ^\{"error":"missing"
--- no_error_log eval
::clean()



=== TEST 11: expired token
--- request
GET /ws
--- more_headers eval
::up($::T{expired})
--- error_code: 401
--- response_headers eval
::challenge("expired")
--- response_body_like: ^\{"error":"expired","message":"token expired"\}$
--- error_log
bearer token refused (Authorization header): expired
--- no_error_log eval
::clean()



=== TEST 12: nbf in the future
--- request
GET /ws
--- more_headers eval
::up($::T{nbf})
--- error_code: 401
--- response_headers eval
::challenge("not_yet_valid")
--- response_body_like: ^\{"error":"not_yet_valid"
--- no_error_log eval
::clean()



=== TEST 13: iat in the future
--- request
GET /ws
--- more_headers eval
::up($::T{iat})
--- error_code: 401
--- response_headers eval
::challenge("iat_future")
--- response_body_like: ^\{"error":"iat_future"
--- no_error_log eval
::clean()



=== TEST 14: HS256 signed with another secret: bad signature
--- request
GET /ws
--- more_headers eval
::up($::T{badsig})
--- error_code: 401
--- response_headers eval
::challenge("bad_signature")
--- response_body_like: ^\{"error":"bad_signature"
--- no_error_log eval
::clean()



=== TEST 15: alg none (no signature) is refused
--- request
GET /ws
--- more_headers eval
::up($::T{none})
--- error_code: 401
--- response_headers eval
::challenge("bad_alg")
--- response_body_like: ^\{"error":"bad_alg"
--- no_error_log eval
::clean()



=== TEST 16: forgery: HS256 signed with the RSA public key, RSA-only location
--- request
GET /ws-rsa
--- more_headers eval
::up($::T{forged})
--- error_code: 401
--- response_headers eval
::challenge("bad_alg")
--- response_body_like: ^\{"error":"bad_alg"
--- no_error_log eval
::clean()



=== TEST 17: the same forgery where an HS256 secret exists: bad signature
--- request
GET /ws
--- more_headers eval
::up($::T{forged})
--- error_code: 401
--- response_headers eval
::challenge("bad_signature")
--- response_body_like: ^\{"error":"bad_signature"
--- no_error_log eval
::clean()



=== TEST 18: wrong issuer
--- request
GET /ws
--- more_headers eval
::up($::T{issuer})
--- error_code: 401
--- response_headers eval
::challenge("wrong_issuer")
--- response_body_like: ^\{"error":"wrong_issuer"
--- no_error_log eval
::clean()



=== TEST 19: wrong audience
--- request
GET /ws
--- more_headers eval
::up($::T{audience})
--- error_code: 401
--- response_headers eval
::challenge("wrong_audience")
--- response_body_like: ^\{"error":"wrong_audience"
--- no_error_log eval
::clean()



=== TEST 20: no account claim
--- request
GET /ws
--- more_headers eval
::up($::T{noacct})
--- error_code: 401
--- response_headers eval
::challenge("no_account")
--- response_body_like: ^\{"error":"no_account"
--- no_error_log eval
::clean()



=== TEST 21: malformed token
--- request
GET /ws
--- more_headers eval
::up("not-a.jwt")
--- error_code: 401
--- response_headers eval
::challenge("malformed")
--- response_body_like: ^\{"error":"malformed"
--- no_error_log eval
::clean()



=== TEST 22: oversized token (over 8 KB) is refused before any crypto
--- request
GET /ws
--- more_headers eval
::up($::T{big})
--- error_code: 401
--- response_headers eval
::challenge("too_large")
--- response_body_like: ^\{"error":"too_large"
--- no_error_log eval
::clean()



=== TEST 23: a kid no key has, where every key has a kid: unknown_kid
--- request
GET /ws
--- more_headers eval
::up($::T{wrong_kid})
--- error_code: 401
--- response_headers eval
::challenge("unknown_kid")
--- response_body_like: ^\{"error":"unknown_kid"
--- no_error_log eval
::clean()



=== TEST 24: unknown kid, RS256: the kid-less PEM key is tried, bad signature
--- request
GET /ws
--- more_headers eval
::up($::T{unknown_kid})
--- error_code: 401
--- response_headers eval
::challenge("bad_signature")
--- response_body_like: ^\{"error":"bad_signature"
--- no_error_log eval
::clean()
