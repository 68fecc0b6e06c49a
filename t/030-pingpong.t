# Autobahn 2.x-like ping/pong cases, plus devmon's own keepalive: the
# server pings every devmon_ping_interval and drops a peer whose pong
# does not come within devmon_ping_timeout.

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

=== TEST 1: 2.1 a ping without payload gets an empty pong
--- ws
send ping
recv pong ""
--- no_error_log
[error]



=== TEST 2: 2.2 a ping with a text payload gets a pong with the same payload
--- ws
send ping "Hello, devmon"
recv pong "Hello, devmon"
--- no_error_log
[error]



=== TEST 3: 2.3 a ping with a binary payload gets the same bytes back
--- ws
send ping "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
recv pong "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
--- no_error_log
[error]



=== TEST 4: 2.4 a ping with 125 bytes, the control frame maximum
--- ws
send ping join '', map { chr } 0 .. 124
recv pong join '', map { chr } 0 .. 124
--- no_error_log
[error]



=== TEST 5: 2.5 a ping with 126 bytes fails the connection (1002)
--- ws
send ping "x" x 126
recv close 1002
eof
--- no_error_log
[error]



=== TEST 6: 2.6 a ping written one byte at a time
--- ws
send ping split=1 "Hello"
recv pong "Hello"
--- no_error_log
[error]



=== TEST 7: 2.7 an unsolicited pong is ignored
--- ws
send pong "unsolicited"
send text ping_msg(7)
recv text pong(7)
--- no_error_log
[error]



=== TEST 8: 2.8 an unsolicited pong with payload, then a ping
--- ws
send pong "unsolicited"
send ping "ping"
recv pong "ping"
--- no_error_log
[error]



=== TEST 9: 2.9 ten pings in one write: at least the latest is answered
--- ws
raw join '', map { frame(op => 'ping', payload => "p$_") } 0 .. 9
seek pong "p9"
send text ping_msg(9)
recv text pong(9)
--- no_error_log
[error]



=== TEST 10: 2.10 application ping: the id comes back, number or string
--- ws
send text '{"type":"ping","id":42}'
recv text pong(42)
send text '{"type":"ping","id":"abc-1"}'
recv text pong("abc-1")
--- no_error_log
[error]



=== TEST 11: 2.11 the server pings every interval and a ponging peer stays
--- config
    location = /ws {
        devmon_ws;
        devmon_ping_interval 500ms;
        devmon_ping_timeout 1s;
    }
--- ws
recv t=2 ping
send pong $last
recv t=2 ping
send pong $last
recv t=2 ping
send pong $last
send text ping_msg(11)
recv text pong(11)
--- timeout: 6
--- no_error_log
[error]



=== TEST 12: 2.12 a peer that never answers pings is dropped
--- config
    location = /ws {
        devmon_ws;
        devmon_ping_interval 1s;
        devmon_ping_timeout 300ms;
    }
--- ws
recv t=3 ping
gone t=3
--- no_error_log
[error]



=== TEST 13: 2.13 the drop is silent: TCP closes without a close frame
--- config
    location = /ws {
        devmon_ws;
        devmon_ping_interval 1s;
        devmon_ping_timeout 300ms;
    }
--- ws
recv t=3 ping
eof t=3
--- no_error_log
[error]
