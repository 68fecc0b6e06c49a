# Autobahn 3.x-like cases: a frame with any RSV bit set (no extension is
# negotiated) fails the connection with 1002, whatever its opcode, and
# frames queued behind it are not processed.

use Test::Nginx::Socket;
use Devmon::Util;

# the full product: a key, a token, a broker; scripts start after the
# session preamble (Devmon::Util::ws_session_setup)
ws_session_setup();

repeat_each(1);
no_shuffle();

# status, ws script, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

my $config = <<'_EOC_';
    location = /ws {
        devmon_ws;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: 3.1 RSV1 on a text frame
--- ws
send text rsv=4 ping_msg(1)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 2: 3.2 RSV2 on a text frame after a valid message
--- ws
send text ping_msg(2)
recv text pong(2)
send text rsv=2 ping_msg(3)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 3: 3.3 RSV3 on a frame sent together with a valid one and a ping
--- ws
raw frame(payload => ping_msg(3)) \
    . frame(rsv => 1, payload => ping_msg(4)) \
    . frame(op => 'ping', payload => 'late')
recv text pong(3)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 4: 3.4 RSV1+RSV2 (bits 6) on a text frame
--- ws
send text rsv=6 ping_msg(4)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 5: 3.5 RSV1+RSV3 (bits 5) on a binary frame
--- ws
send binary rsv=5 "\x00\x01\x02"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 6: 3.6 RSV2+RSV3 (bits 3) on a ping
--- ws
send ping rsv=3 "hello"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 7: 3.7 all RSV bits on a close frame
--- ws
send close rsv=7 close_payload(1000)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 8: 3.8 RSV1 on a continuation frame
--- ws
send text fin=0 '{"type":"ping",'
send cont rsv=4 '"id":8}'
recv close 1002
eof
--- no_error_log
[error]
