# Autobahn 6.x-like cases: text messages must be UTF-8, checked
# incrementally as bytes arrive, across fragment boundaries (1007).

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

=== TEST 1: 6.1 2-, 3- and 4-byte sequences are valid
--- ws
send text utf8(qq({"type":"ping","id":1,"x":") \
    . "\x{3ba}\x{1f79}\x{3c3}\x{3bc}\x{3b5} \x{20ac} \x{1d11e}\"}")
recv text pong(1)
--- no_error_log
[error]



=== TEST 2: 6.2 a UTF-8 message in one-byte fragments
--- ws
raw my $m = utf8(qq({"type":"ping","id":2,"x":") \
                 . "\x{3ba}\x{1f79}\x{3c3}\x{3bc}\x{3b5}\x{1d11e}\"}"); \
    join '', map { \
        frame(op => $_ ? 'cont' : 'text', fin => $_ == length($m) - 1, \
              payload => substr($m, $_, 1)) \
    } 0 .. length($m) - 1
recv text pong(2)
--- no_error_log
[error]



=== TEST 3: 6.3 a 3-byte sequence split across two fragments
--- ws
send text fin=0 "{\"type\":\"ping\",\"id\":3,\"x\":\"\xe2\x82"
send cont "\xac\"}"
recv text pong(3)
--- no_error_log
[error]



=== TEST 4: 6.4 a 4-byte sequence split 1+3, 2+2 and 3+1
--- ws
send text fin=0 "{\"type\":\"ping\",\"id\":41,\"x\":\"\xf0"
send cont "\x9d\x84\x9e\"}"
recv text pong(41)
send text fin=0 "{\"type\":\"ping\",\"id\":42,\"x\":\"\xf0\x9d"
send cont "\x84\x9e\"}"
recv text pong(42)
send text fin=0 "{\"type\":\"ping\",\"id\":43,\"x\":\"\xf0\x9d\x84"
send cont "\x9e\"}"
recv text pong(43)
--- no_error_log
[error]



=== TEST 5: 6.5 U+FFFF and U+10FFFF are valid
--- ws
send text "{\"type\":\"ping\",\"id\":5,\"x\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}"
recv text pong(5)
--- no_error_log
[error]



=== TEST 6: 6.6 an invalid byte 0xff (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":6,\"x\":\"\xff\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 7: 6.7 an overlong 2-byte "/" (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":7,\"x\":\"\xc0\xaf\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 8: 6.8 an overlong 3-byte "/" (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":8,\"x\":\"\xe0\x80\xaf\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 9: 6.9 a UTF-16 surrogate U+D800 (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":9,\"x\":\"\xed\xa0\x80\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 10: 6.10 a code point above U+10FFFF (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":10,\"x\":\"\xf4\x90\x80\x80\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 11: 6.11 a continuation byte without a lead byte (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":11,\"x\":\"\x80\"}"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 12: 6.12 a message ending inside a sequence (1007)
--- ws
send text "{\"type\":\"ping\",\"id\":12}\xe2\x82"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 13: 6.13 a fragmented message ending inside a sequence (1007)
--- ws
send text fin=0 "{\"type\":\"ping\",\"id\":13}\xe2"
send cont "\x82"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 14: 6.14 fail fast: 0xff in a first fragment, the rest never sent
--- ws
send text fin=0 "{\"type\":\"ping\",\"x\":\"\xff"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 15: 6.15 fail fast: a bad continuation byte across fragments
--- ws
send text fin=0 "{\"type\":\"ping\",\"x\":\"\xe2"
send cont fin=0 "\x28"
recv close 1007
eof
--- no_error_log
[error]



=== TEST 16: 6.16 fail fast inside one frame: only its first 40 bytes are sent
--- ws
raw substr(frame(payload => "{\"type\":\"ping\",\"x\":\"\xc0\xaf" \
                           . ("x" x 4000) . "\"}"), 0, 40)
recv close 1007
eof
--- no_error_log
[error]
