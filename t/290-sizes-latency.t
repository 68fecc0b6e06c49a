# Sizes: a 128-byte account, device ids of up to 1 KB with JSON escapes,
# 400 devices and an epoch that needs escaping: hello, snapshot (over
# WebSocket and HTTP), replayed and live events are all valid JSON, each
# frame exactly as long as its text.  Latency: the publish-to-send
# histogram is taken when a frame is written to a client socket, from the
# event's "t".  Redis port 6410.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(1);

Devmon::Stream::setup(port => 6410);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 60, config => <<'_EOC_');
    location = /ws {
        devmon_ws;
    }

    location = /snapshot {
        devmon_snapshot;
    }

    location = /status {
        devmon_status;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: long account, long device ids, many devices: every message is JSON
--- python
import http.client
from devmon_stream import *

ACCT = ("acct-" + "0123456789abcdef" * 8)[:128]

def dev(i):
    # 200..1000 bytes; every 7th carries JSON escapes (\" \\ \u00e9)
    return ("dev%03d-" % i + "x" * (200 + 2 * i)
            + ('\\"q\\\\\\u00e9' if i % 7 == 0 else ""))

def get(path, tok):
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Length"), body

async def frames(ws, n, timeout=10):
    out = []
    for _ in range(n):
        raw = await asyncio.wait_for(ws.recv(), timeout)
        out.append((raw, json.loads(raw)))
    return out

async def main():
    redis("FLUSHALL")
    check(len(ACCT) == 128, "account of 128 bytes")
    n = 400
    cat = []
    for i in range(n):
        cat += [dev(i), '{"d":"%s","n":"N%d","a":"h%d.lab","rg":["fra"],'
                        '"k":["icmp"]}' % (dev(i), i, i)]
    redis("HSET", "devmon:{%s}:devices" % ACCT, *cat)
    first = publish(ACCT, [event(dev(i), t=1000 + i) for i in range(n)])

    # fresh: hello, snapshot; both parse, the snapshot holds everything
    ws = await connect(ACCT)
    (_, hello), (raw, snap) = await frames(ws, 2)
    check(hello["type"] == "hello" and hello["epoch"] == first[0][1],
          "hello: %r" % hello)
    check(snap["type"] == "snapshot" and len(snap["devices"]) == n
          and len(snap["state"]) == n, "snapshot of %d devices" % n)
    check(snap["id"] == first[-1][0], "snapshot id is the newest")
    check(sorted(e["d"] for e in snap["state"])
          == sorted(json.loads('"%s"' % dev(i)) for i in range(n)),
          "every device id survived byte for byte")
    check(len(raw) > 400 * 300, "a big frame: %d bytes" % len(raw))

    # over HTTP: the same text, Content-Length is the body
    status, clen, body = get("/snapshot", token(ACCT))
    check(status == 200 and int(clen) == len(body), "HTTP %s %s %d"
          % (status, clen, len(body)))
    check(json.loads(body) == snap, "HTTP snapshot equals the WS one")
    since = "%s:%s" % (snap["epoch"], snap["id"])
    await ws.close()

    # missed events, replayed: each one the published text, id first
    missed = [event(dev(i), t=5000 + i, st="down") for i in range(300)]
    ids = publish(ACCT, missed)
    ws = await connect(ACCT, since=since)
    got = await frames(ws, 301)
    check(got[0][1]["type"] == "hello", "hello first")
    for (raw, m), (id_, _), (_, body) in zip(got[1:], ids, missed):
        check(raw == with_id(id_, body), "replayed as published: %r"
              % raw[:80])

    # live, after the replay
    live = [event(dev(i), t=9000 + i, st="up") for i in range(50)]
    ids = publish(ACCT, live)
    got = await frames(ws, 50)
    for (raw, m), (id_, _), (_, body) in zip(got, ids, live):
        check(raw == with_id(id_, body), "live as published")
    await ws.close()

    # an epoch that needs escaping, in hello, snapshot and HTTP
    odd = 'ep"och\\' + "\x01" * 3 + "e" * 200
    redis("SET", "devmon:{odd}:epoch", odd)
    ws = await connect("odd")
    (_, hello), (_, snap) = await frames(ws, 2)
    check(hello["epoch"] == odd and snap["epoch"] == odd,
          "escaped epoch round-trips")
    status, clen, body = get("/snapshot", token("odd"))
    check(status == 200 and json.loads(body)["epoch"] == odd,
          "HTTP epoch round-trips")
    await ws.close()
    print("ok")

run(main())
--- python_out
ok



=== TEST 2: latency is taken at the socket write, from the publish time
--- python
import http.client
from devmon_stream import *

def metrics():
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/status")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    m = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m

COUNT = "devmon_publish_to_send_seconds_count"
B25 = 'devmon_publish_to_send_seconds_bucket{le="2.500"}'
B5 = 'devmon_publish_to_send_seconds_bucket{le="5.000"}'

async def main():
    redis("FLUSHALL")
    c = Collector(await connect("lat"), "C")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")
    await c.ws.send(json.dumps({"type": "subscribe", "devices": ["x"]}))
    await c.wait_for(lambda c: "subscribed" in c.types(), what="filter")

    m0 = metrics()
    # filtered out: received, never written, so no latency sample
    publish("lat", [event("a") for _ in range(5)])
    await asyncio.sleep(0.5)
    m1 = metrics()
    check(m1["devmon_events_received_total"]
          - m0["devmon_events_received_total"] == 5, "5 received")
    check(m1[COUNT] == m0[COUNT], "no sample without a write")

    # written: one sample each, measured from the publish time (the id),
    # not from "t" (a result taken 3 s before it was published)
    now = int(time.time() * 1000)
    ids = publish("lat", [event("x", t=now - 3000) for _ in range(3)])
    await c.wait_for(lambda c: ids[-1][0] in c.ids, what="x events")
    await asyncio.sleep(0.2)
    m2 = metrics()
    check(m2[COUNT] - m1[COUNT] == 3, "a sample per written event")
    check(m2[B25] - m1[B25] == 3,
          "under 2.5 s: from the publish time, not from t")
    check(m2[COUNT] == m2['devmon_publish_to_send_seconds_bucket{le="+Inf"}'],
          "count is the +Inf bucket")
    await c.close()
    print("ok")

run(main())
--- python_out
ok
