# An independent client: Debian's python3-websockets (10.4) talks to the
# module: handshake with subprotocol, application ping/pong, a
# fragmented message, a protocol ping, and a clean close.

use Test::Nginx::Socket;
use Devmon::Util;

# the full product: a key, a token (DEVMON_TOKEN), a broker; each program
# reads the session preamble itself (Devmon::Util::ws_session_setup)
ws_session_setup();

repeat_each(1);
no_shuffle();

# status, python client, [error], [alert|crit]
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

=== TEST 1: handshake, subprotocol, application ping, protocol ping, close
--- python
import asyncio, json, os, websockets


async def preamble(ws):
    # the session opens with hello then snapshot; the checks start after
    for want in ("hello", "snapshot"):
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert m["type"] == want, m


async def main():
    # the browser way: the token rides in the subprotocol list
    async with websockets.connect(os.environ["DEVMON_WS_URL"],
                                  subprotocols=["devmon.v1", "bearer."
                                                + os.environ["DEVMON_TOKEN"]],
                                  open_timeout=5, close_timeout=5) as ws:
        print("subprotocol", ws.subprotocol)
        await preamble(ws)
        for i in (1, 2, 3):
            await ws.send(json.dumps({"type": "ping", "id": i}))
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            print(m["type"], m["id"])
        pong = await ws.ping(b"probe")
        await asyncio.wait_for(pong, 5)
        print("pong received")
        await ws.close(1000, "done")
        print("close", ws.close_code)

asyncio.run(main())
--- python_out
subprotocol devmon.v1
pong 1
pong 2
pong 3
pong received
close 1000
--- no_error_log
[error]



=== TEST 2: a fragmented message, UTF-8 in it, and a string id
--- python
import asyncio, json, os, websockets


async def preamble(ws):
    # the session opens with hello then snapshot; the checks start after
    for want in ("hello", "snapshot"):
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert m["type"] == want, m


async def main():
    async with websockets.connect(os.environ["DEVMON_WS_URL"],
                                  subprotocols=["devmon.v1"],
                                  extra_headers={"Authorization": "Bearer "
                                                 + os.environ["DEVMON_TOKEN"]},
                                  open_timeout=5, close_timeout=5) as ws:
        await preamble(ws)
        msg = json.dumps({"type": "ping", "id": "x-7",
                          "note": "\u03ba\u1f79\u03c3\u03bc\u03b5"},
                         ensure_ascii=False)
        # an iterable is sent as one message in several frames
        await ws.send([msg[:5], msg[5:20], msg[20:]])
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        print(m["type"], m["id"])
        await ws.send("not json")
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        print(m["type"], m["error"])
        await ws.close()
        print("close", ws.close_code)

asyncio.run(main())
--- python_out
pong x-7
error bad_message
close 1000
--- no_error_log
[error]



=== TEST 3: a binary message makes the server close with 1003
--- python
import asyncio, json, os, websockets


async def preamble(ws):
    # the session opens with hello then snapshot; the checks start after
    for want in ("hello", "snapshot"):
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert m["type"] == want, m


async def main():
    async with websockets.connect(os.environ["DEVMON_WS_URL"],
                                  extra_headers={"Authorization": "Bearer "
                                                 + os.environ["DEVMON_TOKEN"]},
                                  open_timeout=5, close_timeout=5) as ws:
        await preamble(ws)
        await ws.send(b"\x00\x01")
        try:
            await asyncio.wait_for(ws.recv(), 5)
            print("no close")
        except websockets.exceptions.ConnectionClosed as e:
            print("closed", e.rcvd.code if e.rcvd else None)

asyncio.run(main())
--- python_out
closed 1003
--- no_error_log
[error]
