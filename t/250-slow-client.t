# A client that stops reading: its bounded queue overflows, it is closed
# with 4008, the worker's memory stays bounded while 30 MB of events pass,
# and a client that reads on the same account gets every event.
# Redis port 6405.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6405);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 90,
                         http_extra => <<'_EOH_', config => <<'_EOC_');
    devmon_close_timeout 60s;
_EOH_
    location = /ws {
        devmon_ws;
        devmon_send_queue 64;
        devmon_send_queue_bytes 64k;
    }

    location = /ws-big {
        devmon_ws;
        devmon_send_queue 65536;
        devmon_send_queue_bytes 64m;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a client that stops reading gets 4008; memory stays bounded
--- python
import struct
from devmon_stream import *

def workers_rss():
    master = open(os.environ["DEVMON_NGINX_PID"]).read().strip()
    pids = open("/proc/%s/task/%s/children" % (master, master)).read().split()
    rss = 0
    for p in pids:
        for line in open("/proc/%s/status" % p):
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
    return rss, pids

def stalled_client(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n"
              b"Authorization: Bearer " + token("slow").encode() + b"\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    check(b" 101 " in head.split(b"\r\n")[0], "101: %r" % head)
    return s

def close_codes(data):
    codes = []
    while len(data) >= 2:
        op, n = data[0] & 0x0f, data[1] & 0x7f
        h = 2
        if n == 126:
            n, h = struct.unpack(">H", data[2:4])[0], 4
        elif n == 127:
            n, h = struct.unpack(">Q", data[2:10])[0], 10
        if len(data) < h + n:
            break
        if op == 8:
            codes.append(struct.unpack(">H", data[h:h + 2])[0])
        data = data[h + n:]
    return codes

async def main():
    redis("FLUSHALL")
    port = int(WS_URL.split(":")[2].split("/")[0])
    pad = "x" * 1400
    good = Collector(await connect("slow", path="-big", max_size=None,
                                   max_queue=None), "good")
    await good.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    s = stalled_client(port)
    await asyncio.sleep(0.3)

    rss0, pids = workers_rss()
    total = 0
    for batch in range(20):
        evs = [("", '{"d":"dev-%d","r":"fra","k":"http","t":%d,"st":"up",'
                    '"pad":"%s"}' % (i % 9, i, pad)) for i in range(1000)]
        await asyncio.to_thread(publish, "slow", evs, 1000000)
        total += 1000
        await good.wait_events(total, 30)
        rss, _ = workers_rss()
        check(rss - rss0 < 20 * 1024, "workers' RSS grew by %d kB after "
              "%d MB published" % (rss - rss0, total * 1.5 / 1000))

    check(good.ids == stream_ids("slow"), "the reading client has all %d"
          % total)
    check(good.close_code is None, "the reading client is still open")

    # the stalled client now reads what it was sent: it ends with 4008
    s.setblocking(False)
    data = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        except BlockingIOError:
            await asyncio.sleep(0.01)
    s.close()
    check(close_codes(data) == [4008], "closed with 4008 after %d bytes: %r"
          % (len(data), close_codes(data)))
    check(len(data) < 8 * 1024 * 1024, "it got only what fit: %d" % len(data))
    await good.close()
    print("ok")

run(main())
--- python_out
ok
