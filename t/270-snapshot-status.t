# devmon_snapshot: the WebSocket snapshot as JSON over plain HTTP, for the
# bearer token's account (401 without a valid one); devmon_status:
# Prometheus text with connections, handshakes by answer, frames, Redis
# links, subscribed accounts, auth failures and the publish-to-send
# histogram, summed over both workers.  Redis port 6407.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6407);

# status, python client, [alert|crit]
plan tests => repeat_each() * (3 * blocks());

Devmon::Stream::defaults(python_timeout => 30, config => <<'_EOC_');
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

=== TEST 1: devmon_snapshot answers the token's account, the same as over WebSocket
--- python
import http.client
from devmon_stream import *

def get(path, token=None, method="GET"):
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    h = {"Authorization": "Bearer " + token} if token else {}
    c.request(method, path, headers=h)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body

async def main():
    redis("FLUSHALL")
    redis("HSET", "devmon:{acme}:devices", "a",
          '{"d":"a","n":"A","a":"a.lab","rg":["fra"],"k":["icmp"]}')
    redis("HSET", "devmon:{other}:devices", "z",
          '{"d":"z","n":"Z","a":"z.lab","rg":["ams"],"k":["icmp"]}')
    ids = publish("acme", [event("a", t=1), event("a", t=2, st="down")])
    publish("other", [event("z", "ams", t=1)])

    acme, other = token("acme"), token("other")
    status, h, body = get("/snapshot", acme)
    check(status == 200, "200: %s %s" % (status, body))
    check(h["content-type"] == "application/json", "json: %r" % h)
    snap = json.loads(body)
    check(snap["type"] == "snapshot" and snap["id"] == ids[-1][0]
          and snap["epoch"] == ids[0][1], "snapshot: %r" % snap)
    check([d["d"] for d in snap["devices"]] == ["a"], "acme's catalogue")
    check([s["st"] for s in snap["state"]] == ["down"], "latest state")

    # the account comes from the token, never from the request
    status, _, body2 = get("/snapshot?account=other", acme)
    check(status == 200 and body2 == body, "argument ignored")
    status, _, other = get("/snapshot", other)
    check(status == 200 and '"d":"z"' in other and '"d":"a"' not in other,
          "other's own snapshot: %s" % other)

    # byte for byte what a WebSocket client gets
    ws = await connect("acme")
    await recv(ws)
    raw, _ = await recv(ws)
    check(raw == body, "same snapshot:\n%s\n%s" % (raw, body))
    await ws.close()

    status, h, body = get("/snapshot")
    check(status == 401 and "www-authenticate" in h, "no token: %s" % status)
    status, h, body = get("/snapshot", token("acme", ttl=-100))
    check(status == 401 and "expired" in h["www-authenticate"],
          "expired: %s %r" % (status, h))
    status, _, _ = get("/snapshot", acme, "POST")
    check(status == 405, "POST: %s" % status)
    print("ok")

run(main())
--- python_out
ok



=== TEST 2: devmon_status counts what happened, over both workers
--- python
import http.client, re
from devmon_stream import *

def metrics():
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/status")
    r = c.getresponse()
    text = r.read().decode()
    check(r.status == 200, "status page %s" % r.status)
    check(r.getheader("Content-Type").startswith(
          "text/plain; version=0.0.4"), "prometheus content type")
    m = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
    return m, text

def refused(path, headers):
    host, port = HTTP_BASE.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status

async def main():
    redis("FLUSHALL")
    m0, _ = metrics()
    check(m0["devmon_workers"] == 2, "two workers")
    check(m0['devmon_redis_link_up{link="subscriber"}'] == 2
          and m0['devmon_redis_link_up{link="command"}'] == 2,
          "links up in both workers")

    clients = []
    for i in range(6):
        ws = await connect("acme")
        clients.append(Collector(ws, "c%d" % i))
    for c in clients:
        await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    up = {"Upgrade": "websocket", "Connection": "Upgrade",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version": "13"}
    check(refused("/ws", up) == 401, "401 without token")
    bad = dict(up, Authorization="Bearer " + token("acme", ttl=-100))
    check(refused("/ws", bad) == 401, "401 expired")
    check(refused("/ws", {}) == 426, "426 plain GET")

    publish("acme", [event("a", t=int(time.time() * 1000))
                     for _ in range(50)])
    for c in clients:
        await c.wait_events(50)
    await asyncio.sleep(0.2)

    m, text = metrics()
    d = lambda k: m[k] - m0.get(k, 0)
    check(m["devmon_connections"] == 6, "6 open: %s" % text)
    check(d('devmon_handshakes_total{status="101"}') == 6, "101 x6")
    check(d('devmon_handshakes_total{status="401"}') == 2, "401 x2")
    check(d('devmon_handshakes_total{status="426"}') == 1, "426 x1")
    check(d("devmon_frames_sent_total") >= 6 * 52, "frames")
    check(d("devmon_bytes_sent_total") > 6 * 50 * 60, "bytes")
    # each worker with acme clients receives each event once
    got = d("devmon_events_received_total")
    check(got in (50, 100), "50 events per subscribed worker: %s" % got)
    check(m["devmon_subscribed_accounts"] >= 1, "acme subscribed")
    check(d('devmon_auth_failures_total{reason="missing"}') == 1,
          "missing token counted")
    check(d('devmon_auth_failures_total{reason="expired"}') == 1,
          "expired token counted")
    check(d("devmon_publish_to_send_seconds_count") == got,
          "a latency per event fanned out")
    check(m['devmon_publish_to_send_seconds_bucket{le="+Inf"}']
          == m["devmon_publish_to_send_seconds_count"], "+Inf is the count")
    check(d('devmon_publish_to_send_seconds_bucket{le="1.000"}') == got,
          "all under a second")

    for c in clients:
        await c.close()
    await asyncio.sleep(0.2)
    m, _ = metrics()
    check(m["devmon_connections"] == 0, "all closed")
    print("ok")

run(main())
--- python_out
ok
