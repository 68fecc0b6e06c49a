# Live account streams: hello, the snapshot (catalogue and latest state,
# byte for byte), live events to every client of the account in order and
# byte for byte, device/region filters, and unsubscribing after a linger.
# A real redis-server (port 6400) and two workers.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::Stream;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

Devmon::Stream::setup(port => 6400);

# status, python client, [error], [alert|crit]
plan tests => repeat_each() * (4 * blocks());

Devmon::Stream::defaults(python_timeout => 30, http_extra => <<'_EOH_');
    devmon_unsubscribe_linger 300ms;
_EOH_

run_tests();

__DATA__

=== TEST 1: hello, then a snapshot with the catalogue and the latest state
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    cat = ('{"d":"core-sw1","n":"Core switch","a":"core-sw1.lab",'
           '"rg":["fra"],"k":["icmp"]}')
    cat2 = '{"d":"edge-1","n":"Edge","a":"edge-1.lab","rg":["fra"],"k":["tcp"]}'
    redis("HSET", "devmon:{acme}:devices", "core-sw1", cat, "edge-1", cat2)
    ids = publish("acme", [event("core-sw1", t=1000),
                           event("core-sw1", t=2000, st="down"),
                           event("edge-1", kind="tcp", t=3000)])
    epoch = ids[0][1]

    ws = await connect("acme")
    _, hello = await recv(ws)
    check(hello["type"] == "hello", "hello first: %r" % hello)
    check(hello["epoch"] == epoch, "hello epoch %r" % hello)
    check(hello["session"], "hello has a session")
    check(hello["limits"]["replay_max"] == 512, "limits %r" % hello)

    raw, snap = await recv(ws)
    check(snap["type"] == "snapshot", "snapshot second: %r" % snap)
    check(snap["epoch"] == epoch, "snapshot epoch")
    check(snap["id"] == ids[-1][0], "snapshot id %r, last %r"
          % (snap["id"], ids[-1][0]))

    # catalogue and state entries are inserted as stored, byte for byte
    check(cat in raw and cat2 in raw, "catalogue verbatim in %s" % raw)
    check(len(snap["devices"]) == 2, "two devices")
    state = redis("HGETALL", "devmon:{acme}:state")
    values = state[1::2]
    check(len(values) == 2 and len(snap["state"]) == 2, "two states")
    for v in values:
        check(v in raw, "state value %s verbatim in %s" % (v, raw))
    latest = [s for s in snap["state"] if s["d"] == "core-sw1"][0]
    check(latest["id"] == ids[1][0] and latest["st"] == "down",
          "latest core-sw1 state %r" % latest)

    # nothing else is sent until something is published
    try:
        extra = await asyncio.wait_for(ws.recv(), 0.5)
        check(False, "unexpected message %s" % extra)
    except asyncio.TimeoutError:
        pass
    await ws.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 2: every client of the account gets every event, in order, as published
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    clients = []
    for i in range(6):
        ws = await connect("acme")
        _, hello = await recv(ws)
        _, snap = await recv(ws)
        check(snap["type"] == "snapshot" and snap["state"] == [],
              "empty snapshot %r" % snap)
        clients.append(Collector(ws, "c%d" % i))

    evs = [event("dev-%d" % (i % 7), t=1000 + i) for i in range(200)]
    ids = publish("acme", evs)
    want = [with_id(i, e) for (i, _), (_, e) in zip(ids, evs)]

    for c in clients:
        await c.wait_events(200, 10)
    for c in clients:
        check(c.events == want, "%s: events differ from the published ones"
              % c.name)
        # the account had no history: its epoch comes before its events
        check(c.types() == ["epoch"] and c.epoch == ids[0][1],
              "%s: nothing but the epoch and events: %r"
              % (c.name, c.control))
        await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 3: device and region filters, acknowledged, applied to live events
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    ws = await connect("acme")
    await recv(ws)
    await recv(ws)

    await ws.send(json.dumps({"type": "subscribe", "devices": ["a"]}))
    _, ack = await recv(ws)
    check(ack == {"type": "subscribed", "devices": ["a"], "regions": "*"},
          "ack %r" % ack)

    ids = publish("acme", [event("a"), event("b"), event("a", "ams"),
                           event("c")])
    _, ep = await recv(ws)
    check(ep == {"type": "epoch", "epoch": ids[0][1]},
          "the first history's epoch, whatever the filter: %r" % ep)
    got = [(await recv(ws))[1]["id"] for _ in range(2)]
    check(got == [ids[0][0], ids[2][0]], "device filter: %r" % got)

    await ws.send(json.dumps({"type": "subscribe", "regions": ["ams"]}))
    _, ack = await recv(ws)
    check(ack["regions"] == ["ams"], "region ack %r" % ack)

    # a region heartbeat has no device: device filters let it through
    hb = ("|ams|hb", '{"type":"region","r":"ams","t":1,"iv":1000}')
    ids = publish("acme", [event("a", "fra"), event("b", "ams"),
                           event("a", "ams"), hb])
    _, m1 = await recv(ws)
    _, m2 = await recv(ws)
    check(m1["id"] == ids[2][0], "device+region filter: %r" % m1)
    check(m2["id"] == ids[3][0] and m2["type"] == "region",
          "heartbeat passes: %r" % m2)

    await ws.send(json.dumps({"type": "unsubscribe", "devices": ["a"]}))
    _, ack = await recv(ws)
    check(ack["devices"] == [], "nothing left: %r" % ack)
    publish("acme", [event("a", "ams")])

    await ws.send(json.dumps({"type": "unsubscribe"}))
    _, ack = await recv(ws)
    check(ack == {"type": "subscribed", "devices": "*", "regions": "*"},
          "bare unsubscribe drops filters: %r" % ack)
    ids = publish("acme", [event("z", "sin")])
    _, m = await recv(ws)
    check(m["id"] == ids[0][0], "everything again: %r" % m)

    await ws.send(json.dumps({"type": "subscribe", "devices": "a"}))
    _, err = await recv(ws)
    check(err["type"] == "error" and err["error"] == "bad_message",
          "bad filter answered: %r" % err)
    await ws.send(json.dumps({"type": "ping", "id": 1}))
    _, pong = await recv(ws)
    check(pong["type"] == "pong", "still open: %r" % pong)
    await ws.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 4: the channel is subscribed while clients are there, then released
--- python
from devmon_stream import *

def subscribers():
    return redis("PUBSUB", "NUMSUB", "devmon:{linger}:live")[1]

async def main():
    redis("FLUSHALL")
    check(subscribers() == 0, "nobody subscribed before")
    ws = await connect("linger")
    await recv(ws)
    await recv(ws)
    check(subscribers() == 1, "one worker subscribed: %d" % subscribers())
    await ws.close()
    await asyncio.sleep(0.1)
    check(subscribers() == 1, "still subscribed during the linger")
    for _ in range(100):
        if subscribers() == 0:
            break
        await asyncio.sleep(0.02)
    check(subscribers() == 0, "unsubscribed after the linger")
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]



=== TEST 5: an event's own "id": publish.lua refuses it, the module keeps the first
--- python
from devmon_stream import *

async def main():
    redis("FLUSHALL")
    keys = ["devmon:{acme}:%s" % k for k in ("ev", "state", "live", "epoch")]
    script = open(LUA).read()
    for bad in ('{"d":"a","id":"99999999999999-0"}', '{"id":1}',
                '{"d":"a"} x'):
        try:
            redis("EVAL", script, 4, *keys, "", bad, 100)
            check(False, "accepted %s" % bad)
        except RedisError as e:
            check("devmon: event must" in str(e), "refused: %s" % e)
    check(redis("EXISTS", keys[0]) == 0, "nothing streamed")
    # a nested "id" is the publisher's business
    first = publish("acme", [("", '{"d":"a","x":{"id":"1-1"}}')])

    c = Collector(await connect("acme"), "C")
    await c.wait_for(lambda c: "snapshot" in c.types(), what="snapshot")

    # written past the script: the stream id first, a bogus one after it
    nid = "%d-0" % (int(first[0][0].split("-")[0]) + 1)
    redis("PUBLISH", keys[2], '%s {"id":"%s","d":"b","id":"99999999999999-0"}'
          % (first[0][1], nid))
    # (json.loads keeps the last "id": look at the text)
    await c.wait_for(lambda c: any('"d":"b"' in e for e in c.events),
                     what="the raw event")
    after = publish("acme", [event("c")])
    await c.wait_for(lambda c: after[0][0] in c.ids,
                     what="the next event (not dropped as older)")
    await c.close()
    print("ok")

run(main())
--- python_out
ok
--- no_error_log
[error]
