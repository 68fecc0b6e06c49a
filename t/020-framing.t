# Autobahn 1.x-like framing cases: payload length encodings, frames split
# across TCP writes and several frames in one write, client masking.

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
        devmon_max_message_size 1m;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: 1.1 a small text message (7-bit length)
--- ws
send text ping_msg(1)
recv text pong(1)
--- no_error_log
[error]



=== TEST 2: 1.2 a 125-byte message, the largest 7-bit length
--- ws
send text ping_msg(2, 125)
recv text pong(2)
--- no_error_log
[error]



=== TEST 3: 1.3 a 126-byte message, the smallest 16-bit length
--- ws
send text ping_msg(3, 126)
recv text pong(3)
--- no_error_log
[error]



=== TEST 4: 1.4 a 65535-byte message, the largest 16-bit length
--- ws
send text ping_msg(4, 65535)
recv text pong(4)
--- no_error_log
[error]



=== TEST 5: 1.5 a 65536-byte message, a 64-bit length
--- ws
send text ping_msg(5, 65536)
recv text pong(5)
--- no_error_log
[error]



=== TEST 6: 1.6 a frame written one byte at a time
--- ws
send text split=1 ping_msg(6, 130)
recv text pong(6)
--- no_error_log
[error]



=== TEST 7: 1.7 a 64 KiB frame written in 4000-byte pieces
--- ws
send text split=4000 ping_msg(7, 65000)
recv text pong(7)
--- no_error_log
[error]



=== TEST 8: 1.8 three messages in one TCP write are answered in order
--- ws
raw frame(payload => ping_msg(81)) . frame(payload => ping_msg(82)) \
    . frame(payload => ping_msg(83))
recv text pong(81)
recv text pong(82)
recv text pong(83)
--- no_error_log
[error]



=== TEST 9: 1.9 a hundred messages in one write, a hundred answers
--- ws
raw join '', map { frame(payload => ping_msg($_)) } 1 .. 100
recv n=100 text pong($i + 1)
--- no_error_log
[error]



=== TEST 10: 1.10 an unmasked client frame fails the connection (1002)
--- ws
send text mask=0 ping_msg(10)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 11: 1.11 a 16-bit length for a 5-byte payload is not minimal (1002)
--- ws
send text len16 "hello"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 12: 1.12 a 64-bit length for a 200-byte payload is not minimal (1002)
--- ws
send text len64 ping_msg(12, 200)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 13: 1.13 a 64-bit length with the most significant bit set (1002|1009)
--- ws
raw "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x01" . "\x00" x 4
recv close 1002|1009
eof
--- no_error_log
[error]



=== TEST 14: 1.14 a non-JSON text message gets an error message, not a close
--- ws
send text "hello"
recv text qr/^\{"type":"error","error":"bad_message"/
send text ping_msg(14)
recv text pong(14)
--- no_error_log
[error]



=== TEST 15: 1.15 an unknown message type gets an error message
--- ws
send text '{"type":"frobnicate"}'
recv text qr/^\{"type":"error","error":"unknown_type"/
send text ping_msg(15)
recv text pong(15)
--- no_error_log
[error]



=== TEST 16: 1.16 an empty text message is not JSON: error message
--- ws
send text ""
recv text qr/^\{"type":"error","error":"bad_message"/
send text ping_msg(16)
recv text pong(16)
--- no_error_log
[error]
