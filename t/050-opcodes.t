# Autobahn 4.x-like cases: reserved opcodes (3-7 data, 11-15 control)
# fail the connection with 1002; binary messages are refused with 1003
# (devmon speaks JSON text only).  1003 is a close the server starts, not a
# failed connection: the client answers with its close, then TCP ends.

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

=== TEST 1: 4.1.1 reserved data opcode 3, empty
--- ws
send 3
recv close 1002
eof
--- no_error_log
[error]




=== TEST 2: 4.1.2 reserved data opcode 4, empty
--- ws
send 4
recv close 1002
eof
--- no_error_log
[error]




=== TEST 3: 4.1.3 reserved data opcode 5, empty
--- ws
send 5
recv close 1002
eof
--- no_error_log
[error]




=== TEST 4: 4.1.4 reserved data opcode 6, empty
--- ws
send 6
recv close 1002
eof
--- no_error_log
[error]




=== TEST 5: 4.1.5 reserved data opcode 7, empty
--- ws
send 7
recv close 1002
eof
--- no_error_log
[error]



=== TEST 6: 4.2.1 reserved control opcode 11 after a valid message
--- ws
send text ping_msg(6)
recv text pong(6)
send 11 "payload"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 7: 4.2.2 reserved control opcode 12 after a valid message
--- ws
send text ping_msg(7)
recv text pong(7)
send 12 "payload"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 8: 4.2.3 reserved control opcode 13 after a valid message
--- ws
send text ping_msg(8)
recv text pong(8)
send 13 "payload"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 9: 4.2.4 reserved control opcode 14 after a valid message
--- ws
send text ping_msg(9)
recv text pong(9)
send 14 "payload"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 10: 4.2.5 reserved control opcode 15 after a valid message
--- ws
send text ping_msg(10)
recv text pong(10)
send 15 "payload"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 11: 4.3 a reserved opcode with payload, a ping in the same write
--- ws
raw frame(op => 5, payload => "reserved") \
    . frame(op => 'ping', payload => 'late')
recv close 1002
eof
--- no_error_log
[error]



=== TEST 12: 4.4 a binary message is unsupported data (1003)
--- ws
send binary "\x00\x01\x02\x03"
recv close 1003
send close close_payload(1003)
eof
--- no_error_log
[error]



=== TEST 13: 4.5 a fragmented binary message is refused with 1003
--- ws
raw frame(op => 'binary', fin => 0, payload => "\x00\x01") \
    . frame(op => 'cont', payload => "\x02\x03")
recv close 1003
send close close_payload(1003)
eof
--- no_error_log
[error]
