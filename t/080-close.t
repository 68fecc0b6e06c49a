# Autobahn 7.x-like close handling: the close handshake, payload rules
# (no code, 1-byte payload, 125-byte maximum), close code validation and
# echo, UTF-8 reasons, and nothing processed after a close.

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

=== TEST 1: 7.1.1 a close 1000 is echoed and TCP is closed
--- ws
send text ping_msg(1)
recv text pong(1)
send close close_payload(1000, "bye")
recv close 1000
eof
--- no_error_log
[error]



=== TEST 2: 7.1.2 a close without payload is echoed without payload
--- ws
send close
recv close none
eof
--- no_error_log
[error]



=== TEST 3: 7.1.3 frames after a close are not processed
--- ws
raw frame(op => 'close', payload => close_payload(1000)) \
    . frame(payload => ping_msg(3)) \
    . frame(op => 'ping', payload => 'late')
recv close 1000
eof
--- no_error_log
[error]



=== TEST 4: 7.1.4 a close written one byte at a time
--- ws
send close split=1 close_payload(1000, "slow")
recv close 1000
eof
--- no_error_log
[error]



=== TEST 5: 7.3.1 a 1-byte close payload fails the connection (1002)
--- ws
send close "\x03"
recv close 1002
eof
--- no_error_log
[error]



=== TEST 6: 7.3.2 a 125-byte close payload (code and 123-byte reason)
--- ws
send close close_payload(1000, "r" x 123)
recv close 1000
eof
--- no_error_log
[error]



=== TEST 7: 7.3.3 a 126-byte close payload fails the connection (1002)
--- ws
send close close_payload(1000, "r" x 124)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 8: 7.5.1 a close reason that is not UTF-8 (1007)
--- ws
send close close_payload(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" \
                             . "\xed\xa0\x80edited")
recv close 1007
eof
--- no_error_log
[error]



=== TEST 9: 7.5.2 a close reason in valid UTF-8 is accepted
--- ws
send close close_payload(1000, utf8("\x{3ba}\x{1f79}\x{3c3}\x{3bc}\x{3b5}"))
recv close 1000
eof
--- no_error_log
[error]



=== TEST 10: 7.7 valid close code 1000 is echoed
--- ws
send close close_payload(1000)
recv close 1000
eof
--- no_error_log
[error]



=== TEST 11: 7.7 valid close code 1001 is echoed
--- ws
send close close_payload(1001)
recv close 1001
eof
--- no_error_log
[error]



=== TEST 12: 7.7 valid close code 1002 is echoed
--- ws
send close close_payload(1002)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 13: 7.7 valid close code 1003 is echoed
--- ws
send close close_payload(1003)
recv close 1003
eof
--- no_error_log
[error]



=== TEST 14: 7.7 valid close code 1007 is echoed
--- ws
send close close_payload(1007)
recv close 1007
eof
--- no_error_log
[error]



=== TEST 15: 7.7 valid close code 1008 is echoed
--- ws
send close close_payload(1008)
recv close 1008
eof
--- no_error_log
[error]



=== TEST 16: 7.7 valid close code 1009 is echoed
--- ws
send close close_payload(1009)
recv close 1009
eof
--- no_error_log
[error]



=== TEST 17: 7.7 valid close code 1010 is echoed
--- ws
send close close_payload(1010)
recv close 1010
eof
--- no_error_log
[error]



=== TEST 18: 7.7 valid close code 1011 is echoed
--- ws
send close close_payload(1011)
recv close 1011
eof
--- no_error_log
[error]



=== TEST 19: 7.7 valid close code 3000 is echoed
--- ws
send close close_payload(3000)
recv close 3000
eof
--- no_error_log
[error]



=== TEST 20: 7.7 valid close code 3999 is echoed
--- ws
send close close_payload(3999)
recv close 3999
eof
--- no_error_log
[error]



=== TEST 21: 7.7 valid close code 4000 is echoed
--- ws
send close close_payload(4000)
recv close 4000
eof
--- no_error_log
[error]



=== TEST 22: 7.7 valid close code 4999 is echoed
--- ws
send close close_payload(4999)
recv close 4999
eof
--- no_error_log
[error]



=== TEST 23: 7.9 invalid close code 0 fails the connection (1002)
--- ws
send close close_payload(0)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 24: 7.9 invalid close code 999 fails the connection (1002)
--- ws
send close close_payload(999)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 25: 7.9 invalid close code 1004 fails the connection (1002)
--- ws
send close close_payload(1004)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 26: 7.9 invalid close code 1005 fails the connection (1002)
--- ws
send close close_payload(1005)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 27: 7.9 invalid close code 1006 fails the connection (1002)
--- ws
send close close_payload(1006)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 28: 7.9 invalid close code 1015 fails the connection (1002)
--- ws
send close close_payload(1015)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 29: 7.9 invalid close code 1016 fails the connection (1002)
--- ws
send close close_payload(1016)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 30: 7.9 invalid close code 1100 fails the connection (1002)
--- ws
send close close_payload(1100)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 31: 7.9 invalid close code 2000 fails the connection (1002)
--- ws
send close close_payload(2000)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 32: 7.9 invalid close code 2999 fails the connection (1002)
--- ws
send close close_payload(2999)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 33: 7.9 invalid close code 5000 fails the connection (1002)
--- ws
send close close_payload(5000)
recv close 1002
eof
--- no_error_log
[error]



=== TEST 34: 7.9 invalid close code 65535 fails the connection (1002)
--- ws
send close close_payload(65535)
recv close 1002
eof
--- no_error_log
[error]
