# Redis stops: connected clients are told {"type":"broker","state":"down"},
# new handshakes get 503 with a jittered Retry-After; Redis starts again
# (empty): clients are told "up", get a reset and a fresh snapshot, and
# new clients connect.  Redis port 6404.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6404);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 70, http_extra => <<'_EOH_');
    devmon_redis_reconnect 50ms 300ms;
_EOH_

run_tests();

__DATA__

=== TEST 1: Redis down then up: broker messages, 503 + Retry-After, recovery
--- python
import re, tempfile
from devmon_stream import *

def handshake_status():
    s = socket.create_connection(("127.0.0.1", int(WS_URL.split(":")[2]
                                                   .split("/")[0])), 5)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n"
              b"Authorization: Bearer " + token("acme").encode() + b"\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while m and len(body) < int(m.group(1)):
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    s.close()
    text = (head + b"\r\n\r\n" + body).decode("latin-1")
    status = int(text.split(" ", 2)[1])
    m = re.search(r"(?im)^retry-after:\s*(\d+)\s*$", text)
    return status, (int(m.group(1)) if m else None), text

async def main():
    redis("FLUSHALL")
    ids = publish("acme", [event("a", t=1), event("b", t=2)])
    a = Collector(await connect("acme"), "A")
    await a.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    try:
        redis("SHUTDOWN", "NOSAVE")
    except (RedisError, OSError):
        pass

    await a.wait_for(lambda c: {"type": "broker", "state": "down"}
                     in c.control, what="broker down")

    seen = set()
    for i in range(8):
        status, retry, text = handshake_status()
        check(status == 503, "handshake while down: %s" % text)
        check(retry is not None and 1 <= retry <= 5,
              "Retry-After 1..5: %r" % retry)
        check('"error":"broker_unavailable"' in text, "JSON reason: %s"
              % text)
        seen.add(retry)
    check(len(seen) >= 2, "Retry-After is jittered: %r" % seen)

    d = tempfile.mkdtemp()
    srv = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT),
                            "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", d,
                            "--daemonize", "no", "--logfile",
                            d + "/redis.log"])
    try:
        for _ in range(250):
            try:
                if redis("PING") == "PONG":
                    break
            except OSError:
                await asyncio.sleep(0.02)

        await a.wait_for(lambda c: {"type": "broker", "state": "up"}
                         in c.control, timeout=10, what="broker up")
        # Redis lost the history: told, with a fresh (empty) snapshot
        await a.wait_for(lambda c: c.types().count("snapshot") == 2,
                         what="second snapshot")
        check(a.types() == ["hello", "snapshot", "broker", "broker",
                            "reset", "snapshot"], "A: %r" % a.types())
        check(a.control[-1]["state"] == [], "empty snapshot")

        # A's worker is back; a new handshake may reach the other one,
        # still in its reconnect backoff (more so on a loaded machine):
        # 503 is its right answer, so retry as told, a bounded number of
        # times within a bounded time
        b = None
        deadline = time.time() + 30
        for attempt in range(20):
            try:
                b = Collector(await connect("acme"), "B")
                break
            except websockets.InvalidStatusCode as e:
                check(e.status_code == 503, "refused only while a worker "
                      "reconnects: %r" % e)
                retry = int(e.headers.get("Retry-After", "0"))
                check(1 <= retry <= 5, "Retry-After 1..5: %r" % retry)
                if time.time() + retry > deadline:
                    break
                await asyncio.sleep(retry)
        check(b is not None, "a new client connects once Redis is back")
        await b.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

        new = publish("acme", [event("c", t=3)])
        for x in (a, b):
            await x.wait_for(lambda x: new[0][0] in x.ids, what="live")
        await a.close()
        await b.close()
    finally:
        srv.terminate()
        srv.wait(10)
    print("ok")

run(main())
--- python_out
ok
