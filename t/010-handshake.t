# RFC 6455 section 4 opening handshake as devmon checks it: what is
# accepted (101 with the right answer headers) and how every refusal is
# answered (status, headers, JSON body).  The protocol checks (426, 400,
# 403) come before the token (401), as ngx_http_devmon_ws.h documents:
# their blocks send no token, and the last blocks pin that order.

use Test::Nginx::Socket;
use Devmon::Util;

# the full product: a key, a token, a broker; scripts start after the
# session preamble (Devmon::Util::ws_session_setup)
ws_session_setup();

repeat_each(1);
no_shuffle();

# Every block: status, body or ws script, [error], [alert|crit]; the
# blocks checking headers add one test per header line.
plan tests => repeat_each() * (4 * blocks() + 9);

my $config = <<'_EOC_';
    location = /ws {
        devmon_ws;
        devmon_allow_origin https://good.example http://localhost:8080;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a valid handshake gets 101 and a working connection
--- ws
hdr Upgrade: (?i)websocket
hdr Connection: (?i).*\bupgrade\b.*
hdr !Sec-WebSocket-Protocol
send text ping_msg(1)
recv text pong(1)
send close close_payload(1000)
recv close 1000
eof
--- no_error_log
[error]



=== TEST 2: the devmon.v1 subprotocol is chosen from the offered list
--- ws_headers
Sec-WebSocket-Protocol: chat, devmon.v1
--- ws
hdr Sec-WebSocket-Protocol: devmon\.v1
send text ping_msg(2)
recv text pong(2)
--- no_error_log
[error]



=== TEST 3: "Connection" may hold "upgrade" among other tokens, any case
--- ws_headers
Connection: keep-alive, UPGRADE
Upgrade: WebSocket
--- ws
send text ping_msg(3)
recv text pong(3)
--- no_error_log
[error]



=== TEST 4: an allowed Origin is accepted, compared without case
--- ws_headers
Origin: https://GOOD.example
--- ws
send text ping_msg(4)
recv text pong(4)
--- no_error_log
[error]



=== TEST 5: a plain GET (no upgrade) gets 426 and a JSON body
--- request
GET /ws
--- error_code: 426
--- response_body_like: ^\{"error":"upgrade_required","message":"[^"]+"\}$
--- no_error_log
[error]



=== TEST 6: "Connection" without the upgrade token is not a WebSocket request
--- request
GET /ws
--- more_headers
Connection: keep-alive, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 426
--- response_body_like: ^\{"error":"upgrade_required",
--- no_error_log
[error]



=== TEST 7: "Upgrade" other than websocket is not a WebSocket request
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: h2c
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 426
--- response_body_like: ^\{"error":"upgrade_required",
--- no_error_log
[error]



=== TEST 8: Sec-WebSocket-Version 8: 426 naming the supported version
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 8
--- error_code: 426
--- response_headers_like
Sec-WebSocket-Version: 13
Upgrade: (?i)websocket
Content-Type: application/json.*
--- response_body_like: ^\{"error":"bad_version","message":"[^"]+"\}$
--- no_error_log
[error]



=== TEST 9: a missing Sec-WebSocket-Version: 426 naming the supported version
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
--- error_code: 426
--- response_headers_like
Sec-WebSocket-Version: 13
Content-Type: application/json.*
--- response_body_like: ^\{"error":"bad_version",
--- no_error_log
[error]



=== TEST 10: a key of 15 bytes is refused with 400
--- request
GET /ws
--- more_headers eval
"Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: " . MIME::Base64::encode_base64("k" x 15, '')
--- error_code: 400
--- response_headers_like
Content-Type: application/json.*
--- response_body_like: ^\{"error":"bad_key","message":"[^"]+"\}$
--- no_error_log
[error]



=== TEST 11: a key of 17 bytes is refused with 400
--- request
GET /ws
--- more_headers eval
"Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: " . MIME::Base64::encode_base64("k" x 17, '')
--- error_code: 400
--- response_body_like: ^\{"error":"bad_key",
--- no_error_log
[error]



=== TEST 12: a 24-character key that is not base64 is refused with 400
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Version: 13
Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==
--- error_code: 400
--- response_body_like: ^\{"error":"bad_key",
--- no_error_log
[error]



=== TEST 13: a missing key is refused with 400
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_body_like: ^\{"error":"bad_key",
--- no_error_log
[error]



=== TEST 14: a method other than GET is refused with 400
--- request
POST /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_body_like: ^\{"error":"bad_method",
--- no_error_log
[error]



=== TEST 15: HTTP/1.0 is refused with 400
--- request
GET /ws HTTP/1.0
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
--- error_code: 400
--- response_body_like: ^\{"error":"bad_http_version",
--- no_error_log
[error]



=== TEST 16: an Origin outside devmon_allow_origin is refused with 403
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
Origin: https://evil.example
--- error_code: 403
--- response_headers_like
Content-Type: application/json.*
--- response_body_like: ^\{"error":"origin_not_allowed","message":"[^"]+"\}$
--- no_error_log
[error]



=== TEST 17: an Origin differing only in port is not allowed
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
Origin: https://good.example:8443
--- error_code: 403
--- response_body_like: ^\{"error":"origin_not_allowed",
--- no_error_log
[error]



=== TEST 18: subprotocols offered without devmon.v1 are refused with 400
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
Sec-WebSocket-Protocol: chat, superchat
--- error_code: 400
--- response_headers_like
Content-Type: application/json.*
--- response_body_like: ^\{"error":"bad_subprotocol",
--- no_error_log
[error]



=== TEST 19: the accept value matches RFC 6455's sample key
--- raw_request eval
"GET /ws HTTP/1.1\r
Host: localhost\r
Upgrade: websocket\r
Connection: Upgrade\r
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
Sec-WebSocket-Version: 13\r
Authorization: Bearer " . Devmon::Util::ws_session_token() . "\r
\r
" . Devmon::Util::ws_frame(op => 'close',
                            payload => Devmon::Util::ws_close_payload(1000))
--- error_code: 101
--- raw_response_headers_like chomp
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n
--- no_error_log
[error]



=== TEST 20: a valid handshake without a token is refused with 401, last
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
Origin: https://good.example
Sec-WebSocket-Protocol: devmon.v1
--- error_code: 401
--- response_headers_like
WWW-Authenticate: Bearer realm="devmon"
--- response_body_like: ^\{"error":"missing","message":"[^"]+"\}$
--- no_error_log
[error]



=== TEST 21: a bad version is answered 426 before an invalid token is read
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 8
Authorization: Bearer not.a.token
--- error_code: 426
--- response_body_like: ^\{"error":"bad_version",
--- no_error_log
[error]



=== TEST 22: a foreign Origin is answered 403 before the missing token
--- request
GET /ws
--- more_headers
Connection: Upgrade, close
Upgrade: websocket
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13
Origin: https://evil.example
--- error_code: 403
--- response_body_like: ^\{"error":"origin_not_allowed",
--- no_error_log
[error]



=== TEST 23: a subrequest (SSI include) is refused: it cannot own the connection
--- config
    location = /ws {
        devmon_ws;
    }

    location = /page.html {
        ssi on;
        root html;
    }
--- user_files
>>> page.html
before<!--# include virtual="/ws" -->after
--- request
GET /page.html
--- response_body_like: ^before.*after\s*$
--- error_log
devmon ws: refusing a subrequest
