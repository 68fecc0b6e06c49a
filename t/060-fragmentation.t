# Autobahn 5.x-like fragmentation cases: messages in several frames,
# control frames between fragments, and continuation rule violations
# (1002).

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

=== TEST 1: 5.1 a fragmented ping fails the connection (1002)
--- ws
raw frame(op => 'ping', fin => 0, payload => 'frag') \
    . frame(op => 'cont', payload => 'ment')
recv close 1002
eof
--- no_error_log
[error]



=== TEST 2: 5.2 a fragmented pong fails the connection (1002)
--- ws
raw frame(op => 'pong', fin => 0, payload => 'frag') \
    . frame(op => 'cont', payload => 'ment')
recv close 1002
eof
--- no_error_log
[error]



=== TEST 3: 5.3 a text message in two fragments
--- ws
send text fin=0 '{"type":"ping",'
send cont '"id":3}'
recv text pong(3)
--- no_error_log
[error]



=== TEST 4: 5.4 a text message in two fragments sent in one write
--- ws
raw frame(fin => 0, payload => '{"type":') \
    . frame(op => 'cont', payload => '"ping","id":4}')
recv text pong(4)
--- no_error_log
[error]



=== TEST 5: 5.5 two fragments, each written one byte at a time
--- ws
send text fin=0 split=1 '{"type":"ping",'
send cont split=1 '"id":5}'
recv text pong(5)
--- no_error_log
[error]



=== TEST 6: 5.6 a ping between two fragments is answered at once
--- ws
send text fin=0 '{"type":"ping",'
send ping "between"
recv pong "between"
send cont '"id":6}'
recv text pong(6)
--- no_error_log
[error]



=== TEST 7: 5.7 fragments and a ping in one write
--- ws
raw frame(fin => 0, payload => '{"type":"ping",') \
    . frame(op => 'ping', payload => 'p') \
    . frame(op => 'cont', payload => '"id":7}')
recv pong "p"
recv text pong(7)
--- no_error_log
[error]



=== TEST 8: 5.8 a pong between fragments is accepted
--- ws
send text fin=0 '{"type":"ping",'
send pong "unsolicited"
send cont '"id":8}'
recv text pong(8)
--- no_error_log
[error]



=== TEST 9: 5.9 a final continuation without a message to continue (1002)
--- ws
send cont '{"type":"ping","id":9}'
recv close 1002
eof
--- no_error_log
[error]



=== TEST 10: 5.10 a non-final continuation without a message (1002)
--- ws
send cont fin=0 '{"type":"ping",'
recv close 1002
eof
--- no_error_log
[error]



=== TEST 11: 5.11 a continuation after a complete message (1002)
--- ws
send text ping_msg(11)
recv text pong(11)
send cont '"more"'
recv close 1002
eof
--- no_error_log
[error]



=== TEST 12: 5.12 a new text frame while a message is open (1002)
--- ws
send text fin=0 '{"type":"ping",'
send text '"id":12}'
recv close 1002
eof
--- no_error_log
[error]



=== TEST 13: 5.13 a non-final new text frame while a message is open (1002)
--- ws
send text fin=0 '{"type":"ping",'
send cont fin=0 '"id"'
send text fin=0 ':13}'
recv close 1002
eof
--- no_error_log
[error]



=== TEST 14: 5.14 a message in 20 fragments with pings between them
--- ws
raw join '', map { \
        frame(op => $_ ? 'cont' : 'text', fin => 0, \
              payload => substr(ping_msg(14, 40), $_ * 2, 2)) \
        . frame(op => 'ping', payload => "p$_") \
    } 0 .. 18
send cont substr(ping_msg(14, 40), 38, 2)
seek pong "p18"
recv text pong(14)
--- no_error_log
[error]



=== TEST 15: 5.15 empty fragments around the data
--- ws
send text fin=0 ""
send cont fin=0 ping_msg(15)
send cont fin=0 ""
send cont ""
recv text pong(15)
--- no_error_log
[error]



=== TEST 16: 5.16 a close between fragments is answered and ends the connection
--- ws
send text fin=0 '{"type":"ping",'
send close close_payload(1000)
recv close 1000
eof
--- no_error_log
[error]



=== TEST 17: 5.17 the next message after a fragmented one starts fresh
--- ws
send text fin=0 '{"type":"ping",'
send cont '"id":171}'
recv text pong(171)
send text ping_msg(172)
recv text pong(172)
--- no_error_log
[error]
