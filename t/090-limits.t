# Autobahn 9.x-like limits and large messages: devmon_max_message_size
# (1009), checked on whole messages across fragments and before a large
# payload arrives; big messages within the limit pass.

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
        devmon_max_message_size 1024;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: 9.1 a message of exactly the limit passes
--- ws
send text ping_msg(1, 1024)
recv text pong(1)
--- no_error_log
[error]



=== TEST 2: 9.2 one byte above the limit closes with 1009
--- ws
send text ping_msg(2, 1025)
recv close 1009
eof
--- no_error_log
[error]



=== TEST 3: 9.3 fragments that together exceed the limit close with 1009
--- ws
send text fin=0 substr(ping_msg(3, 1200), 0, 600)
send cont substr(ping_msg(3, 1200), 600)
recv close 1009
eof
--- no_error_log
[error]



=== TEST 4: 9.4 fragments exactly at the limit pass
--- ws
send text fin=0 substr(ping_msg(4, 1024), 0, 512)
send cont fin=0 substr(ping_msg(4, 1024), 512, 500)
send cont substr(ping_msg(4, 1024), 1012)
recv text pong(4)
--- no_error_log
[error]



=== TEST 5: 9.5 a frame header announcing 1 TiB is refused before any payload
--- ws
raw substr(frame(payload => "{", len => 2**40), 0, 14)
recv close 1009
eof
--- no_error_log
[error]



=== TEST 6: 9.6 control frames do not count toward the message limit
--- ws
send text fin=0 substr(ping_msg(6, 1024), 0, 1000)
send ping "x" x 125
recv pong "x" x 125
send cont substr(ping_msg(6, 1024), 1000)
recv text pong(6)
--- no_error_log
[error]



=== TEST 7: 9.7 the default limit is 64 KiB: 65536 bytes pass
--- config
    location = /ws {
        devmon_ws;
    }
--- ws
send text ping_msg(7, 65536)
recv text pong(7)
--- no_error_log
[error]



=== TEST 8: 9.8 the default limit is 64 KiB: 65537 bytes close with 1009
--- config
    location = /ws {
        devmon_ws;
    }
--- ws
send text ping_msg(8, 65537)
recv close 1009
eof
--- no_error_log
[error]



=== TEST 9: 9.9 a 4 MiB message within a 4m limit
--- config
    location = /ws {
        devmon_ws;
        devmon_max_message_size 4m;
    }
--- ws
send text ping_msg(9, 4 * 1024 * 1024)
recv t=10 text pong(9)
--- no_error_log
[error]



=== TEST 10: 9.10 a 1 MiB message in 64 fragments of 16 KiB
--- config
    location = /ws {
        devmon_ws;
        devmon_max_message_size 1m;
    }
--- ws
raw my $m = ping_msg(10, 1024 * 1024); \
    join '', map { \
        frame(op => $_ ? 'cont' : 'text', fin => $_ == 63, \
              payload => substr($m, $_ * 16384, 16384)) \
    } 0 .. 63
recv t=10 text pong(10)
--- no_error_log
[error]



=== TEST 11: 9.11 a thousand small messages in one write, all answered
--- ws
raw join '', map { frame(payload => ping_msg($_)) } 1 .. 1000
recv n=1000 t=10 text pong($i + 1)
--- no_error_log
[error]
