# A token's life on an open connection: the token_expiring notice, the
# 4001 close at exp, renewal with {"type":"auth"} (same user: extended;
# other user or account: 4003; invalid: an error answer, then 1008 after
# repeated failures).  Tokens live a few seconds and are minted at the
# moment they are sent.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;

# the streams part needs its broker for every connection
our $REDIS = start_redis(unix => 1);

END { stop_redis($REDIS) if $REDIS }

our ($K, $SECRET);

$K = Devmon::JWT->new;
$ENV{TEST_NGINX_DEVMON_KEYS} = $K->dir;
$SECRET = $K->hs_secret('hs256.key', 32);


# a token for user/account living $ttl seconds from now
sub tok {
    my ($ttl, $user, $acct) = @_;

    return $K->token(alg => 'HS256', key => $SECRET,
                     claims => { sub => $user // 'alice',
                                 acct => $acct // 'acme',
                                 iat => time - 1, exp => time + $ttl });
}


sub bearer {
    return "Authorization: Bearer " . tok(@_);
}


# the renewal message
sub renew {
    return qq({"type":"auth","token":") . tok(@_) . '"}';
}


repeat_each(1);
no_shuffle();
log_level('info');

# each block: status, ws script, 2 no_error_log patterns, [alert|crit],
# plus its error_log lines (3 blocks have one)
plan tests => repeat_each() * (5 * blocks() + 3);

our $config = <<'_EOC_';
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
        devmon_token_expiring_notice 2s;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                                     . ($block->http_config // ''));

    # minted here, just before the block runs, not when the file loads
    if (defined(my $ttl = $block->token_ttl)) {
        $block->set_value('ws_headers', bearer($ttl));
    }
});

run_tests();

__DATA__

=== TEST 1: notice 2 s before exp, then close 4001 at exp
--- token_ttl: 3
--- ws_timeout: 6
--- ws
seek text qr/^\{"type":"snapshot"/
recv t=3 text qr/^\{"type":"token_expiring","exp":\d+\}$/
send text ping_msg(1)
seek text pong(1)
recv t=4 close 4001
--- error_log
expired, closing
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 2: a token with less than the notice left gets the notice at once
--- token_ttl: 2
--- ws
recv t=1 text qr/^\{"type":"token_expiring","exp":\d+\}$/
seek text qr/^\{"type":"snapshot"/
recv t=4 close 4001
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 3: renewal for the same user and account extends the session
--- token_ttl: 3
--- ws_timeout: 8
--- ws
seek text qr/^\{"type":"snapshot"/
send text ::renew(60)
recv text qr/^\{"type":"auth","ok":true,"exp":\d+\}$/
silent 4
send text ping_msg(3)
seek text pong(3)
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 4: renewal after the notice; the old exp passes without a close
--- token_ttl: 3
--- ws_timeout: 8
--- ws
seek text qr/^\{"type":"snapshot"/
recv t=3 text qr/^\{"type":"token_expiring"/
send text ::renew(30)
recv text qr/^\{"type":"auth","ok":true,"exp":\d+\}$/
silent 3
send text ping_msg(4)
seek text pong(4)
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 5: renewal naming another user closes with 4003
--- token_ttl: 30
--- ws
seek text qr/^\{"type":"snapshot"/
send text ::renew(30, 'mallory')
recv close 4003
--- error_log
names another user or account, closing
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 6: renewal naming another account closes with 4003
--- token_ttl: 30
--- ws
seek text qr/^\{"type":"snapshot"/
send text ::renew(30, 'alice', 'other-corp')
recv close 4003
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 7: an invalid renewal is answered, the session goes on
--- token_ttl: 30
--- ws
seek text qr/^\{"type":"snapshot"/
send text ::renew(-10)
recv text '{"type":"auth","ok":false,"error":"expired"}'
send text '{"type":"auth","token":"garbage"}'
recv text '{"type":"auth","ok":false,"error":"malformed"}'
send text '{"type":"auth"}'
recv text '{"type":"auth","ok":false,"error":"missing"}'
send text ping_msg(7)
seek text pong(7)
--- error_log
renewal token refused: expired
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]



=== TEST 8: five invalid renewals in a row close with 1008
--- token_ttl: 30
--- ws
seek text qr/^\{"type":"snapshot"/
send text '{"type":"auth","token":"x.y.z"}'
recv text qr/"ok":false/
send text '{"type":"auth","token":"x.y.z"}'
recv text qr/"ok":false/
send text '{"type":"auth","token":"x.y.z"}'
recv text qr/"ok":false/
send text '{"type":"auth","token":"x.y.z"}'
recv text qr/"ok":false/
send text '{"type":"auth","token":"x.y.z"}'
recv close 1008
--- no_error_log eval
['[error]', qr/eyJ[A-Za-z0-9_-]{10}/]
